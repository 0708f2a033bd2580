//! `deploy/state-machine.asl.json`, the Step Functions definition that chains the SageMaker
//! jobs of one project, and `deploy/batch.asl.json`, which runs it over a manifest of projects: valid Amazon States Language (each state's required fields, every transition to a
//! state that exists, every state reachable, a way to the end), the SageMaker requests' required
//! fields, `.sync` integrations, retries on capacity errors, a catch that records failure, and
//! data flow: every JSON path a state reads is produced before it on every way there, the S3
//! locations chain sfm → train → compress, and the container paths are the ones
//! `splat sagemaker` uses.

use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

fn definition() -> Value {
    read_definition("state-machine.asl.json")
}

fn read_definition(name: &str) -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../deploy")
        .join(name);
    let text = std::fs::read_to_string(&path).unwrap();
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The required fields of the execution input (documented in deploy/README.md); the optional
/// ones come from the definition's own defaults.
const EXECUTION_INPUT: [&str; 3] = ["$.job_id", "$.images_s3_uri", "$.output_bucket"];

fn get<'a>(v: &'a Value, path: &str) -> &'a Value {
    path.split('.').fold(v, |v, k| &v[k])
}

fn require(state: &str, v: &Value, fields: &[&str]) {
    for f in fields {
        let direct = get(v, f);
        // A field may also be given as a path (`Name.$`).
        let (parent, last) = f.rsplit_once('.').map_or(("", *f), |(p, l)| (p, l));
        let by_path = if parent.is_empty() {
            &v[format!("{last}.$")]
        } else {
            &get(v, parent)[format!("{last}.$")]
        };
        assert!(
            !direct.is_null() || !by_path.is_null(),
            "{state}: required field {f} missing"
        );
    }
}

/// Next states of a state: (target, produced by taking that edge instead of the state's own
/// output — a catch gives only its error).
fn edges(s: &Value) -> Vec<(String, Option<String>)> {
    let mut out = Vec::new();
    for k in ["Next", "Default"] {
        if let Some(n) = s[k].as_str() {
            out.push((n.to_string(), None));
        }
    }
    for c in s["Choices"].as_array().into_iter().flatten() {
        out.push((c["Next"].as_str().unwrap().to_string(), None));
    }
    for c in s["Catch"].as_array().into_iter().flatten() {
        out.push((
            c["Next"].as_str().unwrap().to_string(),
            c["ResultPath"].as_str().map(String::from),
        ));
    }
    out
}

/// JSON paths a state writes into its output when it succeeds.
fn produced(s: &Value, states: &serde_json::Map<String, Value>) -> Vec<String> {
    if let Some(merged) = merged_defaults(s, states) {
        return merged;
    }
    let Some(result) = s["ResultPath"].as_str() else {
        return Vec::new(); // null: the input passes through; absent: only on Fail/Succeed here
    };
    let mut out = vec![result.to_string()];
    if let Some(params) = s["Parameters"].as_object().filter(|_| s["Type"] == "Pass") {
        for k in params.keys() {
            out.push(format!("{result}.{}", k.trim_end_matches(".$")));
        }
    }
    if let Some(r) = s["Result"].as_object() {
        for k in r.keys() {
            out.push(format!("{result}.{k}"));
        }
    }
    match s["Resource"].as_str() {
        Some("arn:aws:states:::sagemaker:createTrainingJob.sync") => {
            out.push(format!("{result}.ModelArtifacts.S3ModelArtifacts"));
            out.push(format!("{result}.TrainingJobName"));
        }
        Some("arn:aws:states:::sagemaker:createProcessingJob.sync") => {
            out.push(format!("{result}.ProcessingJobName"));
            out.push(format!("{result}.ProcessingOutputConfig"));
        }
        _ => {}
    }
    out
}

/// A Pass state that merges a defaults object under the input and keeps the merge as its whole
/// output (`{"x.$": "States.JsonMerge($.d, $, false)"}` with `OutputPath` `$.x`): the top-level
/// keys of the `Result` another Pass state wrote at `$.d`.
fn merged_defaults(s: &Value, states: &serde_json::Map<String, Value>) -> Option<Vec<String>> {
    let (key, call) = s["Parameters"].as_object()?.iter().next()?;
    let call = call.as_str()?;
    let from = call
        .strip_prefix("States.JsonMerge(")?
        .strip_suffix(", $, false)")?;
    assert_eq!(
        s["OutputPath"].as_str(),
        Some(format!("$.{}", key.trim_end_matches(".$")).as_str())
    );
    for other in states.values() {
        let Some(at) = other["ResultPath"].as_str() else {
            continue;
        };
        if let Some(rest) = from.strip_prefix(at) {
            let defaults = rest
                .split('.')
                .filter(|k| !k.is_empty())
                .fold(&other["Result"], |v, k| &v[k]);
            let keys = defaults.as_object()?.keys();
            return Some(keys.map(|k| format!("$.{k}")).collect());
        }
    }
    None
}

/// Every JSON path (`$.a.b`) a state reads: values of `…​.$` fields and Choice variables.
fn references(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                let reads = k.ends_with(".$")
                    || matches!(
                        k.as_str(),
                        "Variable" | "ErrorPath" | "CausePath" | "ItemsPath" | "MaxConcurrencyPath"
                    );
                if let (true, Some(s)) = (reads, x.as_str()) {
                    out.extend(paths_in(s));
                }
                references(x, out);
            }
        }
        Value::Array(a) => a.iter().for_each(|x| references(x, out)),
        _ => {}
    }
}

fn paths_in(s: &str) -> Vec<String> {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i + 1 < b.len() {
        let context_object = i > 0 && b[i - 1] == b'$';
        if b[i] == b'$' && b[i + 1] == b'.' && !context_object {
            let end = (i + 2..b.len())
                .find(|&j| !(b[j].is_ascii_alphanumeric() || b[j] == b'_' || b[j] == b'.'))
                .unwrap_or(b.len());
            out.push(s[i..end].trim_end_matches('.').to_string());
            i = end;
        } else {
            i += 1;
        }
    }
    out
}

fn satisfied(reference: &str, available: &BTreeSet<String>) -> bool {
    available.iter().any(|p| {
        reference == p
            || reference.starts_with(&format!("{p}."))
            || p.starts_with(&format!("{reference}."))
    })
}

#[test]
fn the_state_machine_is_valid_and_every_path_it_reads_is_produced_before() {
    check_definition(&definition(), &EXECUTION_INPUT);
}

#[test]
fn the_batch_state_machine_is_valid_and_runs_each_manifest_item_as_a_project() {
    let d = read_definition("batch.asl.json");
    check_definition(&d, &["$.manifest_bucket", "$.manifest_key"]);
    let map = &d["States"]["Projects"];
    assert_eq!(map["Type"], "Map");
    // The manifest is read from S3 by the Map itself (any number of projects), one child
    // execution per item, a bounded number at a time, none stopping the others.
    let reader = &map["ItemReader"];
    assert_eq!(reader["Resource"], "arn:aws:states:::s3:getObject");
    assert_eq!(reader["ReaderConfig"]["InputType"], "JSON");
    assert_eq!(reader["Parameters"]["Bucket.$"], "$.manifest_bucket");
    assert_eq!(reader["Parameters"]["Key.$"], "$.manifest_key");
    assert_eq!(
        map["ItemProcessor"]["ProcessorConfig"]["Mode"],
        "DISTRIBUTED"
    );
    assert_eq!(map["MaxConcurrencyPath"], "$.max_concurrency");
    assert!(
        d["States"]["Defaults"]["Result"]["max_concurrency"]
            .as_u64()
            .is_some_and(|n| n > 0)
    );
    assert_eq!(map["ToleratedFailurePercentage"], 100);
    let inner = map["ItemProcessor"]["States"].as_object().unwrap();
    let start = map["ItemProcessor"]["StartAt"].as_str().unwrap();
    let project = &inner[start];
    assert_eq!(
        project["Resource"], "arn:aws:states:::states:startExecution.sync:2",
        "each project runs as its own execution, waited for"
    );
    assert_eq!(
        project["Parameters"]["StateMachineArn"],
        "${ProjectStateMachineArn}"
    );
    assert_eq!(
        project["Parameters"]["Input.$"], "$",
        "the item is the project's input"
    );
    assert_eq!(project["End"], true);
    assert_eq!(
        map["ResultWriter"]["Resource"],
        "arn:aws:states:::s3:putObject"
    );
}

/// Structure and data flow of a definition whose execution input has `input`.
fn check_definition(d: &Value, input: &[&str]) {
    let states = d["States"].as_object().expect("States");
    let start = d["StartAt"].as_str().expect("StartAt");
    assert!(states.contains_key(start), "StartAt {start} is not a state");

    // Each state's required fields, and transitions to states that exist.
    for (name, s) in states {
        let ty = s["Type"]
            .as_str()
            .unwrap_or_else(|| panic!("{name}: no Type"));
        let terminal = s["End"] == true || matches!(ty, "Succeed" | "Fail");
        match ty {
            "Task" => require(name, s, &["Resource"]),
            "Choice" => assert!(!s["Choices"].as_array().unwrap().is_empty(), "{name}"),
            "Wait" => assert!(
                ["Seconds", "Timestamp", "SecondsPath", "TimestampPath"]
                    .iter()
                    .any(|k| !s[k].is_null()),
                "{name}: Wait needs a time"
            ),
            "Pass" | "Succeed" | "Fail" | "Parallel" | "Map" => {}
            other => panic!("{name}: unknown state type {other}"),
        }
        if !matches!(ty, "Choice" | "Succeed" | "Fail") {
            assert!(
                terminal != s["Next"].is_string(),
                "{name}: needs exactly one of Next and End"
            );
        }
        for (next, _) in edges(s) {
            assert!(states.contains_key(&next), "{name} → {next}: no such state");
        }
    }

    // Every state reachable; the success path ends.
    let mut seen = BTreeSet::from([start.to_string()]);
    let mut todo = vec![start.to_string()];
    while let Some(n) = todo.pop() {
        for (next, _) in edges(&states[&n]) {
            if seen.insert(next.clone()) {
                todo.push(next);
            }
        }
    }
    let unreachable: Vec<&String> = states.keys().filter(|k| !seen.contains(*k)).collect();
    assert!(unreachable.is_empty(), "unreachable: {unreachable:?}");
    assert!(
        states
            .values()
            .any(|s| s["End"] == true || s["Type"] == "Succeed")
    );

    // Data flow: the paths available at a state are those available on every way into it.
    let mut available: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    available.insert(
        start.into(),
        input.iter().map(std::string::ToString::to_string).collect(),
    );
    loop {
        let mut changed = false;
        for (name, s) in states {
            let Some(here) = available.get(name).cloned() else {
                continue;
            };
            for (next, catch) in edges(s) {
                let mut out = here.clone();
                match catch {
                    Some(error) => {
                        out.insert(format!("{error}.Error"));
                        out.insert(format!("{error}.Cause"));
                    }
                    None => out.extend(produced(s, states)),
                }
                let merged: BTreeSet<String> = match available.get(&next) {
                    Some(old) => old.intersection(&out).cloned().collect(),
                    None => out,
                };
                if available.get(&next) != Some(&merged) {
                    available.insert(next, merged);
                    changed = true;
                }
            }
        }
        if !changed {
            break;
        }
    }
    for (name, s) in states {
        let mut refs = Vec::new();
        references(s, &mut refs);
        let here = &available[name];
        for r in refs {
            assert!(
                satisfied(&r, here),
                "{name} reads {r}, which is not produced on every way there (available: {here:?})"
            );
        }
    }
}

#[test]
fn the_sagemaker_jobs_chain_their_s3_locations_and_match_the_container_contract() {
    let d = definition();
    let st = &d["States"];
    let tasks: Vec<(&String, &Value)> = st
        .as_object()
        .unwrap()
        .iter()
        .filter(|(_, s)| {
            s["Resource"]
                .as_str()
                .is_some_and(|r| r.contains(":sagemaker:"))
        })
        .collect();
    assert_eq!(tasks.len(), 3);
    for (name, s) in &tasks {
        let r = s["Resource"].as_str().unwrap();
        assert!(
            r.ends_with(".sync"),
            "{name}: {r} does not wait for the job"
        );
        let retried: Vec<&str> = s["Retry"]
            .as_array()
            .unwrap_or_else(|| panic!("{name}: no Retry"))
            .iter()
            .flat_map(|r| r["ErrorEquals"].as_array().unwrap())
            .filter_map(Value::as_str)
            .collect();
        assert!(
            retried.contains(&"SageMaker.ResourceLimitExceededException"),
            "{name}: no retry on capacity errors"
        );
        // SageMaker reports a bad request (ValidationException) as AmazonSageMakerException:
        // retrying it only delays the failure.
        assert!(
            !retried.contains(&"SageMaker.AmazonSageMakerException")
                && !retried.contains(&"States.ALL"),
            "{name}: a validation error would be retried"
        );
        let catches_all = s["Catch"].as_array().is_some_and(|c| {
            c.iter()
                .any(|c| c["ErrorEquals"][0] == "States.ALL" && c["Next"] == "RecordFailure")
        });
        assert!(catches_all, "{name}: failures are not recorded");
        for c in s["Catch"].as_array().unwrap() {
            assert_eq!(
                c["ResultPath"], "$.error",
                "{name}: the catch must keep the error"
            );
        }
    }
    // The real cause reaches the execution: the catch keeps SageMaker's error at $.error
    // (for a failed job its Cause is the job's description, whose FailureReason is what
    // `splat sagemaker` wrote to output/failure or output/message); RecordFailure stores it in
    // S3 and the Fail state takes its error and cause from there, not a fixed text.
    let record = &st["RecordFailure"];
    assert_eq!(record["Resource"], "arn:aws:states:::aws-sdk:s3:putObject");
    assert_eq!(record["Parameters"]["Body.$"], "$.error");
    assert_eq!(record["Next"], "Failed");
    assert_eq!(
        record["Catch"][0]["Next"], "Failed",
        "a failed record still fails"
    );
    assert_eq!(record["Catch"][0]["ResultPath"], Value::Null);
    let failed = &st["Failed"];
    assert_eq!(failed["Type"], "Fail");
    assert_eq!(failed["ErrorPath"], "$.error.Error");
    assert_eq!(failed["CausePath"], "$.error.Cause");
    assert!(failed["Cause"].is_null() && failed["Error"].is_null());
    assert_eq!(st["TrainCapacityError"]["Default"], "RecordFailure");

    // Per-execution settings: each stage's instance type and options come from the run's
    // settings (the input over the definition's defaults), never fixed in a job.
    let defaults = &st["Defaults"]["Result"];
    for stage in ["sfm", "train", "compress"] {
        assert!(defaults["instance_types"][stage].is_string(), "{stage}");
        assert!(defaults["options"][stage].is_object(), "{stage}");
    }
    for key in ["output_prefix", "options", "instance_types"] {
        assert!(
            !defaults["top"][key].is_null(),
            "optional input {key} has no default"
        );
    }
    let prepare = &st["Prepare"]["Parameters"];
    assert_eq!(
        prepare["options.$"],
        "States.JsonMerge($.defaults.options, $.options, false)"
    );
    assert_eq!(
        prepare["instance_types.$"],
        "States.JsonMerge($.defaults.instance_types, $.instance_types, false)"
    );
    assert_eq!(st["Prepare"]["ResultPath"], "$.run");
    let p = |state: &str| &st[state]["Parameters"];
    let (sfm, train, compress) = (p("Sfm"), p("Train"), p("Compress"));
    for (name, job) in [("Sfm", sfm), ("Compress", compress)] {
        require(
            name,
            job,
            &[
                "ProcessingJobName",
                "RoleArn",
                "AppSpecification.ImageUri",
                "ProcessingResources.ClusterConfig.InstanceCount",
                "ProcessingResources.ClusterConfig.InstanceType",
                "ProcessingResources.ClusterConfig.VolumeSizeInGB",
            ],
        );
    }
    require(
        "Train",
        train,
        &[
            "TrainingJobName",
            "RoleArn",
            "AlgorithmSpecification.TrainingImage",
            "AlgorithmSpecification.TrainingInputMode",
            "OutputDataConfig.S3OutputPath",
            "ResourceConfig.InstanceCount",
            "ResourceConfig.InstanceType",
            "ResourceConfig.VolumeSizeInGB",
            "StoppingCondition.MaxRuntimeInSeconds",
            "HyperParameters",
        ],
    );
    // Managed spot: a checkpoint location and a wait at least as long as the run.
    assert_eq!(train["EnableManagedSpotTraining"], true);
    let stop = &train["StoppingCondition"];
    assert!(
        stop["MaxWaitTimeInSeconds"].as_u64().unwrap()
            >= stop["MaxRuntimeInSeconds"].as_u64().unwrap()
    );
    assert_eq!(
        train["CheckpointConfig"]["LocalPath"],
        "/opt/ml/checkpoints"
    );
    assert!(train["CheckpointConfig"]["S3Uri.$"].is_string());
    // The metric definitions read the lines `splat train` prints (PSNR only after an evaluation).
    let metric = |name: &str, line: &str| -> Option<String> {
        let defs = train["AlgorithmSpecification"]["MetricDefinitions"]
            .as_array()
            .unwrap();
        let def = defs.iter().find(|m| m["Name"] == name).unwrap();
        let re = regex::Regex::new(def["Regex"].as_str().unwrap()).unwrap();
        re.captures(line).map(|c| c[1].to_string())
    };
    assert_eq!(
        metric("loss", "step=1200 loss=0.051234 psnr=27.512").as_deref(),
        Some("0.051234")
    );
    assert_eq!(
        metric("test_psnr", "step=1200 loss=0.051234 psnr=27.512").as_deref(),
        Some("27.512")
    );
    assert_eq!(metric("test_psnr", "step=100 loss=0.2 psnr=-"), None);

    // sfm writes the workspace where the training channel reads it; training's model artefact
    // is what compress reads; the container paths are `splat sagemaker`'s defaults.
    assert_eq!(
        sfm["ContainerArguments"],
        Value::Null,
        "arguments go in AppSpecification"
    );
    for (stage, job) in [("sfm", sfm), ("compress", compress)] {
        // `splat sagemaker STAGE --options JSON`: every stage's options, which the first job
        // checks before it starts work.
        assert_eq!(
            job["AppSpecification"]["ContainerArguments.$"],
            format!("States.Array('{stage}', '--options', States.JsonToString($.run.options))")
        );
        assert_eq!(
            job["ProcessingResources"]["ClusterConfig"]["InstanceType.$"],
            format!("$.run.instance_types.{stage}")
        );
        // progress.json, uploaded while the job runs.
        let outputs = job["ProcessingOutputConfig"]["Outputs"].as_array().unwrap();
        let progress = outputs
            .iter()
            .find(|o| o["OutputName"] == "progress")
            .unwrap_or_else(|| panic!("{stage}: no progress output"));
        assert_eq!(progress["S3Output"]["S3UploadMode"], "Continuous");
        assert_eq!(
            progress["S3Output"]["LocalPath"],
            "/opt/ml/processing/output/progress"
        );
        assert_eq!(
            progress["S3Output"]["S3Uri.$"],
            format!("$.run.progress.{stage}")
        );
    }
    assert_eq!(train["HyperParameters.$"], "$.run.options.train");
    assert_eq!(
        train["ResourceConfig"]["InstanceType.$"],
        "$.run.instance_types.train"
    );
    let sfm_in = &sfm["ProcessingInputs"][0]["S3Input"];
    assert_eq!(sfm_in["LocalPath"], "/opt/ml/processing/input/images");
    let sfm_out = &sfm["ProcessingOutputConfig"]["Outputs"][0]["S3Output"];
    assert_eq!(sfm_out["LocalPath"], "/opt/ml/processing/output/sfm");
    let channel = &train["InputDataConfig"][0];
    assert_eq!(channel["ChannelName"], "training");
    assert_eq!(
        channel["DataSource"]["S3DataSource"]["S3Uri.$"], sfm_out["S3Uri.$"],
        "training must read what sfm wrote"
    );
    let compress_in = &compress["ProcessingInputs"][0]["S3Input"];
    assert_eq!(compress_in["LocalPath"], "/opt/ml/processing/input/model");
    let train_result = st["Train"]["ResultPath"].as_str().unwrap();
    assert_eq!(
        compress_in["S3Uri.$"].as_str().unwrap(),
        format!("{train_result}.ModelArtifacts.S3ModelArtifacts"),
        "compress must read the training job's model"
    );
    // Compaction judges on the training views: compress also reads the workspace sfm wrote.
    let workspace_in = &compress["ProcessingInputs"][1]["S3Input"];
    assert_eq!(
        workspace_in["LocalPath"],
        "/opt/ml/processing/input/workspace"
    );
    assert_eq!(
        workspace_in["S3Uri.$"], sfm_out["S3Uri.$"],
        "compress must read the workspace sfm wrote"
    );
    let compress_out = &compress["ProcessingOutputConfig"]["Outputs"][0]["S3Output"];
    assert_eq!(
        compress_out["LocalPath"],
        "/opt/ml/processing/output/compress"
    );
    // Distinct output locations per stage.
    let outs: BTreeSet<&str> = [
        sfm_out["S3Uri.$"].as_str().unwrap(),
        train["OutputDataConfig"]["S3OutputPath.$"]
            .as_str()
            .unwrap(),
        train["CheckpointConfig"]["S3Uri.$"].as_str().unwrap(),
        compress_out["S3Uri.$"].as_str().unwrap(),
    ]
    .into();
    assert_eq!(outs.len(), 4);
}

#[test]
fn the_checker_finds_a_path_that_is_not_produced() {
    // The data-flow check itself: a reference to a later state's output is caught.
    let avail: BTreeSet<String> = ["$.paths", "$.paths.workspace", "$.job_id"]
        .iter()
        .map(std::string::ToString::to_string)
        .collect();
    assert!(satisfied("$.paths.workspace", &avail));
    assert!(!satisfied(
        "$.train.ModelArtifacts.S3ModelArtifacts",
        &avail
    ));
    assert_eq!(
        paths_in("States.Format('{}-x-{}', $.job_id, $$.Execution.Name)"),
        ["$.job_id"]
    );
}

#[test]
fn the_template_the_state_machines_and_the_dockerfile_pass_their_linters() {
    use splat_test_support::cloud::run_tool;
    let (ok, out) = run_tool("cfn-lint", &["deploy/template.yaml"]);
    assert!(ok, "cfn-lint deploy/template.yaml:\n{out}");
    let (ok, out) = run_tool(
        "asl-validator",
        &[
            "--json-path",
            "deploy/state-machine.asl.json",
            "--json-path",
            "deploy/batch.asl.json",
        ],
    );
    assert!(ok, "asl-validator:\n{out}");
    let (ok, out) = run_tool("hadolint", &["docker/Dockerfile"]);
    assert!(ok, "hadolint docker/Dockerfile:\n{out}");
}

/// The template's resources, each as its block of lines (name → text).
fn template_resources() -> BTreeMap<String, String> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy/template.yaml");
    let text = std::fs::read_to_string(&path).unwrap();
    let body = text
        .split_once("\nResources:\n")
        .expect("Resources")
        .1
        .split("\nOutputs:\n")
        .next()
        .unwrap();
    let mut out: BTreeMap<String, String> = BTreeMap::new();
    let mut current = None;
    for line in body.lines() {
        let is_head = line.len() > 3
            && line.starts_with("  ")
            && !line.starts_with("   ")
            && line.ends_with(':')
            && !line.trim_start().starts_with('#');
        if is_head {
            current = Some(line.trim().trim_end_matches(':').to_string());
        } else if let Some(c) = &current {
            let block = out.entry(c.clone()).or_default();
            block.push_str(line);
            block.push('\n');
        }
    }
    out
}

#[test]
fn the_template_wires_each_definition_and_its_role_allows_what_the_definition_calls() {
    let resources = template_resources();
    let machines: Vec<(&String, &String)> = resources
        .iter()
        .filter(|(_, r)| r.contains("Type: AWS::StepFunctions::StateMachine"))
        .collect();
    assert_eq!(machines.len(), 2);
    let substitution = regex::Regex::new(r"\$\{([A-Za-z]+)\}").unwrap();
    for (name, block) in machines {
        let file = block
            .lines()
            .find_map(|l| l.trim().strip_prefix("DefinitionS3Location: "))
            .unwrap_or_else(|| panic!("{name}: no DefinitionS3Location"));
        let definition = read_definition(file);
        let text = definition.to_string();
        // Every ${X} of the definition is substituted, and nothing else is.
        let used: BTreeSet<String> = substitution
            .captures_iter(&text)
            .map(|c| c[1].to_string())
            .collect();
        let subs = block.split("DefinitionSubstitutions:\n").nth(1).unwrap();
        let given: BTreeSet<String> = subs
            .lines()
            .take_while(|l| l.starts_with("        "))
            .filter_map(|l| l.trim().split_once(':').map(|(k, _)| k.to_string()))
            .collect();
        assert_eq!(used, given, "{name} ({file}): substitutions");

        // The role allows each integration the definition uses (and `.sync` its describe/stop).
        let role = block
            .lines()
            .find_map(|l| l.trim().strip_prefix("RoleArn: !GetAtt "))
            .and_then(|r| r.strip_suffix(".Arn"))
            .unwrap_or_else(|| panic!("{name}: no RoleArn"));
        let policy = &resources[role];
        let mut needed: Vec<&str> = Vec::new();
        let mut integrations: Vec<String> = Vec::new();
        collect_resources(&definition, &mut integrations);
        for r in &integrations {
            needed.extend(match r.as_str() {
                "arn:aws:states:::sagemaker:createProcessingJob.sync" => vec![
                    "sagemaker:CreateProcessingJob",
                    "sagemaker:DescribeProcessingJob",
                    "sagemaker:StopProcessingJob",
                    "iam:PassRole",
                    "StepFunctionsGetEventsForSageMakerProcessingJobsRule",
                ],
                "arn:aws:states:::sagemaker:createTrainingJob.sync" => vec![
                    "sagemaker:CreateTrainingJob",
                    "sagemaker:DescribeTrainingJob",
                    "sagemaker:StopTrainingJob",
                    "iam:PassRole",
                    "StepFunctionsGetEventsForSageMakerTrainingJobsRule",
                ],
                "arn:aws:states:::aws-sdk:s3:putObject" | "arn:aws:states:::s3:putObject" => {
                    vec!["s3:PutObject"]
                }
                "arn:aws:states:::s3:getObject" => vec!["s3:GetObject"],
                "arn:aws:states:::states:startExecution.sync:2" => vec![
                    "states:StartExecution",
                    "states:DescribeExecution",
                    "states:StopExecution",
                    "StepFunctionsGetEventsForStepFunctionsExecutionRule",
                ],
                other => panic!("{name}: the test knows no permissions for {other}"),
            });
        }
        for n in needed {
            assert!(policy.contains(n), "{name}: role {role} does not allow {n}");
        }
        assert!(
            !policy.contains("Action: \"*\"") && !policy.contains("- \"*:*\""),
            "{role}: a wildcard action"
        );
    }
}

/// Every `Resource` of a Task and of a Map's reader or writer, nested machines included.
fn collect_resources(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                if k == "Resource"
                    && let Some(r) = x.as_str()
                    && r.starts_with("arn:aws:states:::")
                {
                    out.push(r.to_string());
                }
                collect_resources(x, out);
            }
        }
        Value::Array(a) => a.iter().for_each(|x| collect_resources(x, out)),
        _ => {}
    }
}

#[test]
fn the_image_runs_as_root_on_a_base_without_cuda_and_sees_the_nvidia_vulkan_driver() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docker/Dockerfile");
    let text = std::fs::read_to_string(path).unwrap();
    let instructions: Vec<&str> = text
        .lines()
        .filter(|l| !l.trim_start().starts_with('#') && !l.trim().is_empty())
        .collect();
    // SageMaker mounts /opt/ml owned by root at run time: no unprivileged user.
    assert!(
        !instructions.iter().any(|l| l.starts_with("USER")),
        "the image must run as root"
    );
    assert!(
        !text.contains("nvidia/cuda"),
        "no CUDA base (and its driver minimum)"
    );
    assert!(text.contains("ARG BASE_IMAGE=ubuntu:"));
    assert!(text.contains("libvulkan1"));
    let caps = text
        .lines()
        .find_map(|l| {
            l.trim()
                .split_once("NVIDIA_DRIVER_CAPABILITIES=")
                .map(|x| x.1)
        })
        .expect("NVIDIA_DRIVER_CAPABILITIES");
    assert!(
        caps.contains("graphics"),
        "the Vulkan ICD needs the graphics capability"
    );
    assert!(text.contains("/usr/share/vulkan/icd.d/nvidia_icd.json"));
    assert!(text.contains(r#"ENTRYPOINT ["splat", "sagemaker"]"#));
}
