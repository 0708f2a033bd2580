//! `splat submit` against a local AWS (moto in server mode on 127.0.0.1: S3, Step Functions,
//! CloudFormation), checked with an independent client (boto3): the photos land under the
//! project's prefix, the execution starts with the right input and really runs the project
//! definition's input checks, defaults and paths (its SageMaker jobs stood in for by a wait and
//! canned results), progress the test writes to S3 meanwhile is shown, and the results are
//! downloaded. Also: options refused before any upload, a failed execution's cause shown,
//! `--detach` then `--status`, `--list` of several projects at once, and `splat view s3://…`
//! following a project's checkpoints and final scene from the bucket. Built with the feature
//! `aws` (scripts/test.sh enables it).

mod common;

use common::{splat, text};
use serde_json::{Value, json};
use splat_test_support::cloud::Moto;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

const BUCKET: &str = "splat-test";
const STACK: &str = "splat-test";

fn definition_text() -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy/state-machine.asl.json");
    std::fs::read_to_string(path)
        .unwrap()
        .replace(
            "${SplatImageUri}",
            "123456789012.dkr.ecr.us-east-1.amazonaws.com/splat:test",
        )
        .replace(
            "${SageMakerRoleArn}",
            "arn:aws:iam::123456789012:role/splat-sagemaker",
        )
}

/// The project definition with its three SageMaker jobs stood in for: a wait where the jobs
/// would run (long enough for the test to write progress), then canned job results. Every
/// other state is the real one.
fn stand_in_definition() -> String {
    stand_in_waiting(4)
}

/// [`stand_in_definition`] with the jobs' wait `seconds` long.
fn stand_in_waiting(seconds: u32) -> String {
    let mut d: Value = serde_json::from_str(&definition_text()).unwrap();
    let states = d["States"].as_object_mut().unwrap();
    states.insert(
        "Sfm".into(),
        json!({"Type": "Wait", "Seconds": seconds, "Next": "Train"}),
    );
    states.insert(
        "Train".into(),
        json!({"Type": "Pass", "ResultPath": "$.train", "Next": "Compress",
               "Result": {"ModelArtifacts": {"S3ModelArtifacts": "s3://splat-test/model.tar.gz"}}}),
    );
    states.insert(
        "Compress".into(),
        json!({"Type": "Pass", "ResultPath": "$.compress", "Result": {}, "Next": "Done"}),
    );
    // The capacity-retry path reads $.train; unreachable now but kept valid.
    d.to_string()
}

/// A moto server with the bucket, a stack whose outputs name it and the stand-in state
/// machine, and the real definition as a second machine. Returns (moto, stand-in, real).
fn cloud() -> (Moto, String, String) {
    let moto = Moto::start();
    let out = moto.boto3(
        r#"
role = 'arn:aws:iam::123456789012:role/splat-states'
stand_in = sfn.create_state_machine(name='splat-test-project', definition=ARGS[0], roleArn=role)['stateMachineArn']
real = sfn.create_state_machine(name='splat-real', definition=ARGS[1], roleArn=role)['stateMachineArn']
template = {'Resources': {'Bucket': {'Type': 'AWS::S3::Bucket', 'Properties': {'BucketName': 'splat-test'}}},
            'Outputs': {'BucketName': {'Value': {'Ref': 'Bucket'}}, 'StateMachineArn': {'Value': stand_in}}}
cfn.create_stack(StackName='splat-test', TemplateBody=json.dumps(template))
print(json.dumps([stand_in, real]))
"#,
        &[&stand_in_definition(), &definition_text()],
    );
    let arns: Vec<String> = serde_json::from_str(out.trim()).unwrap();
    (moto, arns[0].clone(), arns[1].clone())
}

/// The photos of [`photos`], by their names under `images/`: more than the uploads in flight.
fn photo_names() -> Vec<String> {
    let mut names: Vec<String> = ["a.png", "b.png", "more/c.png"].map(String::from).to_vec();
    names.extend((0..10).map(|i| format!("more/d{i:02}.png")));
    names.sort();
    names
}

/// A folder of small PNG photos and a note that is not one.
fn photos(dir: &Path) -> PathBuf {
    let p = dir.join("castle");
    std::fs::create_dir_all(p.join("more")).unwrap();
    for (i, name) in photo_names().iter().enumerate() {
        let img = image::RgbImage::from_fn(32, 24, |x, y| {
            image::Rgb([(x * 8) as u8, (y * 10) as u8, (i * 19) as u8])
        });
        img.save(p.join(name)).unwrap();
    }
    std::fs::write(p.join("notes.txt"), "not a photo").unwrap();
    p
}

/// Results as the jobs would leave them, for `job`.
fn place_results(moto: &Moto, job: &str) {
    moto.boto3(
        r#"
root = 'splat-jobs/' + ARGS[0]
s3.put_object(Bucket='splat-test', Key=root + '/sog/scene.sog', Body=b'SOG bytes of ' + ARGS[0].encode())
s3.put_object(Bucket='splat-test', Key=root + '/sog/compress-report.json', Body=b'{"ratio": 6.1}')
s3.put_object(Bucket='splat-test', Key=root + '/sfm/sfm-report.json', Body=b'{"registered": 3}')
s3.put_object(Bucket='splat-test', Key=root + '/sfm/images/a.png', Body=b'undistorted')
"#,
        &[job],
    );
}

fn submit(moto: &Moto) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_splat"));
    c.arg("submit");
    for (k, v) in moto.env() {
        c.env(k, v);
    }
    c
}

#[test]
fn submit_uploads_starts_follows_and_downloads() {
    let dir = tempfile::tempdir().unwrap();
    let (moto, stand_in, _) = cloud();
    let photos = photos(dir.path());
    place_results(&moto, "castle-1");
    let out = dir.path().join("out");

    let mut child = submit(&moto)
        .arg(&photos)
        .args([
            "--stack",
            STACK,
            "--job-id",
            "castle-1",
            "--poll-seconds",
            "0.2",
        ])
        .args(["--train.steps", "7000", "--train.scale-schedule"])
        .args(["--instance", "train=ml.g5.4xlarge", "-o"])
        .arg(&out)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // While the "jobs" run, the test uploads progress as the training job would.
    let mut log = String::new();
    let mut wrote_progress = false;
    for line in BufReader::new(child.stderr.take().unwrap()).lines() {
        let line = line.unwrap();
        if line.starts_with("submit: started") && !wrote_progress {
            moto.boto3(
                r#"
s = {'stage': 'train', 'status': 'running', 'step': 1200, 'total': 7000, 'fraction': 0.17,
     'test_psnr': 27.51, 'gaussians': 48210, 'elapsed_s': 60, 'eta_s': 290, 'updated': int(time.time())}
s3.put_object(Bucket='splat-test', Key='splat-jobs/castle-1/checkpoints/progress.json', Body=json.dumps(s).encode())
"#,
                &[],
            );
            wrote_progress = true;
        }
        log.push_str(&line);
        log.push('\n');
    }
    let status = child.wait().unwrap();
    assert!(status.success(), "{log}");
    assert!(
        log.contains("train 1200/7000 (17 %), test PSNR 27.51 dB, 48210 Gaussians, 5 min left"),
        "progress not shown:\n{log}"
    );
    assert!(log.contains("notes.txt is not an image"), "{log}");

    // The results, and only the results.
    assert_eq!(
        std::fs::read(out.join("scene.sog")).unwrap(),
        b"SOG bytes of castle-1"
    );
    assert!(out.join("compress-report.json").is_file());
    assert!(out.join("sfm-report.json").is_file());
    assert!(!out.join("images").exists());

    // What landed in S3 and how the execution was started, seen by boto3.
    let seen: Value = serde_json::from_str(
        moto.boto3(
            r#"
keys = sorted(o['Key'] for o in s3.list_objects_v2(Bucket='splat-test', Prefix='splat-jobs/castle-1/images/').get('Contents', []))
arn = ARGS[0].replace(':stateMachine:', ':execution:') + ':castle-1'
e = sfn.describe_execution(executionArn=arn)
print(json.dumps({'keys': keys, 'status': e['status'], 'input': json.loads(e['input']), 'output': json.loads(e.get('output', 'null'))}))
"#,
            &[&stand_in],
        )
        .trim(),
    )
    .unwrap();
    let expected: Vec<String> = photo_names()
        .iter()
        .map(|n| format!("splat-jobs/castle-1/images/{n}"))
        .collect();
    assert_eq!(seen["keys"], json!(expected));
    assert_eq!(seen["status"], "SUCCEEDED");
    let input = &seen["input"];
    assert_eq!(input["job_id"], "castle-1");
    assert_eq!(
        input["images_s3_uri"],
        "s3://splat-test/splat-jobs/castle-1/images/"
    );
    assert_eq!(input["output_bucket"], BUCKET);
    assert_eq!(input["output_prefix"], "splat-jobs");
    assert_eq!(
        input["options"],
        json!({"sfm": {}, "train": {"steps": "7000", "scale-schedule": "true"}, "compress": {}})
    );
    assert_eq!(input["instance_types"], json!({"train": "ml.g5.4xlarge"}));
    // The real input handling ran: the Done state's locations are the ones submit reads.
    assert_eq!(
        seen["output"]["sog"],
        "s3://splat-test/splat-jobs/castle-1/sog/"
    );

    // Submitted again: nothing to upload, and the execution name (the job id) is refused.
    let o = submit(&moto)
        .arg(&photos)
        .args(["--stack", STACK, "--job-id", "castle-1", "--detach"])
        .output()
        .unwrap();
    assert!(!o.status.success());
    assert!(
        text(&o).contains("0 uploaded, 13 already there"),
        "{}",
        text(&o)
    );
    assert!(text(&o).contains("castle-1"), "{}", text(&o));
}

#[test]
fn bad_options_are_refused_before_anything_is_uploaded() {
    let dir = tempfile::tempdir().unwrap();
    let (moto, _, _) = cloud();
    let photos = photos(dir.path());
    let run = |extra: &[&str]| -> Output {
        submit(&moto)
            .arg(&photos)
            .args(["--stack", STACK, "--job-id", "castle-9"])
            .args(extra)
            .output()
            .unwrap()
    };
    for (extra, named) in [
        (&["--train.steps", "many"][..], "many"),
        (&["--train.stepz", "3"][..], "stepz"),
        (&["--instance", "gpu=ml.g5.xlarge"][..], "gpu"),
    ] {
        let o = run(extra);
        assert!(!o.status.success(), "{extra:?}");
        assert!(text(&o).contains(named), "{extra:?}: {}", text(&o));
    }
    let o = submit(&moto)
        .arg(&photos)
        .args(["--stack", STACK, "--job-id", "no_underscores"])
        .output()
        .unwrap();
    assert!(!o.status.success());
    assert!(text(&o).contains("no_underscores"), "{}", text(&o));
    let o = submit(&moto)
        .arg(dir.path().join("nowhere"))
        .args(["--stack", STACK])
        .output()
        .unwrap();
    assert!(!o.status.success());
    assert!(text(&o).contains("nowhere"), "{}", text(&o));
    let o = submit(&moto)
        .arg(&photos)
        .args(["--stack", "no-such-stack"])
        .output()
        .unwrap();
    assert!(!o.status.success());
    assert!(text(&o).contains("no-such-stack"), "{}", text(&o));
    let keys = moto.boto3(
        "print(s3.list_objects_v2(Bucket='splat-test').get('KeyCount', 0))",
        &[],
    );
    assert_eq!(keys.trim(), "0", "something was uploaded");
}

#[test]
fn a_failed_execution_shows_its_cause_and_detach_then_status_follows_a_run() {
    let dir = tempfile::tempdir().unwrap();
    let (moto, _, real) = cloud();
    let photos = photos(dir.path());
    // The real definition: moto cannot run a SageMaker job, so the execution fails at Sfm —
    // its error and cause must reach the user.
    let o = submit(&moto)
        .arg(&photos)
        .args(["--bucket", BUCKET, "--state-machine", &real])
        .args(["--job-id", "castle-2", "--poll-seconds", "0.2"])
        .output()
        .unwrap();
    assert!(!o.status.success(), "{}", text(&o));
    let t = text(&o);
    assert!(t.contains("ended FAILED"), "{t}");
    assert!(
        t.contains("createProcessingJob"),
        "the cause is not shown: {t}"
    );

    // --detach prints the execution and returns; --status shows it; --status --wait follows
    // it to the end and downloads.
    place_results(&moto, "castle-3");
    let o = submit(&moto)
        .arg(&photos)
        .args(["--stack", STACK, "--job-id", "castle-3", "--detach"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    let arn = String::from_utf8_lossy(&o.stdout).trim().to_string();
    assert!(
        arn.starts_with("arn:aws:states:") && arn.ends_with(":castle-3"),
        "{arn}"
    );
    let o = submit(&moto)
        .args(["--status", "castle-3", "--stack", STACK])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("castle-3: RUNNING"), "{}", text(&o));
    let out = dir.path().join("three");
    let o = submit(&moto)
        .args(["--status", &arn, "--wait", "--poll-seconds", "0.2", "-o"])
        .arg(&out)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(
        std::fs::read(out.join("scene.sog")).unwrap(),
        b"SOG bytes of castle-3"
    );
}

#[test]
fn list_shows_every_project_at_once_and_wait_follows_them_to_the_end() {
    let (moto, _, _) = cloud();
    // Another stand-in whose "jobs" take long enough to be listed while they run; two projects
    // started on it (one with training progress uploaded) and one whose input it refuses.
    let machine = moto.boto3(
        r#"
role = 'arn:aws:iam::123456789012:role/splat-states'
m = sfn.create_state_machine(name='splat-list', definition=ARGS[0], roleArn=role)['stateMachineArn']
for job in ['castle-4', 'castle-5']:
    sfn.start_execution(stateMachineArn=m, name=job, input=json.dumps({
        'job_id': job, 'images_s3_uri': 's3://splat-test/splat-jobs/%s/images/' % job,
        'output_bucket': 'splat-test'}))
sfn.start_execution(stateMachineArn=m, name='broken', input='{}')
s = {'stage': 'train', 'status': 'running', 'step': 1200, 'total': 7000, 'fraction': 0.17,
     'test_psnr': 27.51, 'gaussians': 48210, 'elapsed_s': 60, 'eta_s': 290, 'updated': int(time.time())}
s3.put_object(Bucket='splat-test', Key='splat-jobs/castle-4/checkpoints/progress.json', Body=json.dumps(s).encode())
print(m)
"#,
        &[&stand_in_waiting(8)],
    );
    let machine = machine.trim();
    let list = |extra: &[&str]| -> Output {
        submit(&moto)
            .args(["--list", "--bucket", BUCKET, "--state-machine", machine])
            .args(extra)
            .output()
            .unwrap()
    };
    let o = list(&[]);
    assert!(o.status.success(), "{}", text(&o));
    let table = String::from_utf8_lossy(&o.stdout).to_string();
    let line_of = |table: &str, job: &str| -> String {
        table
            .lines()
            .find(|l| l.starts_with(&format!("{job} ")))
            .unwrap_or_else(|| panic!("{job} is not listed:\n{table}"))
            .to_string()
    };
    assert!(table.starts_with("JOB "), "{table}");
    let four = line_of(&table, "castle-4");
    assert!(four.contains("RUNNING"), "{table}");
    assert!(
        four.contains("train 1200/7000 (17 %), test PSNR 27.51 dB, 48210 Gaussians, 5 min left"),
        "{table}"
    );
    assert!(line_of(&table, "castle-5").contains("RUNNING"), "{table}");
    let broken = line_of(&table, "broken");
    assert!(
        broken.contains("FAILED") && broken.contains("InvalidExecutionInput"),
        "{table}"
    );

    // --wait: refreshed (a new table at each change, not on a terminal) until none runs.
    let o = list(&["--wait", "--poll-seconds", "0.5"]);
    assert!(o.status.success(), "{}", text(&o));
    let out = String::from_utf8_lossy(&o.stdout).to_string();
    let last = &out[out.rfind("JOB ").unwrap()..];
    for job in ["castle-4", "castle-5"] {
        let line = line_of(last, job);
        assert!(line.contains("SUCCEEDED") && line.contains("took"), "{out}");
    }
    assert!(line_of(last, "broken").contains("FAILED"), "{out}");

    // --wait alone is refused; --list takes no photos.
    let o = submit(&moto)
        .args(["--wait", "--stack", STACK])
        .output()
        .unwrap();
    assert!(!o.status.success());
    let o = submit(&moto).args(["photos", "--list"]).output().unwrap();
    assert!(!o.status.success());
    assert!(text(&o).contains("--list"), "{}", text(&o));
}

/// `GET url` on the viewer (plain HTTP/1.0 on 127.0.0.1), the body as JSON.
fn get_json(url: &str) -> Value {
    use std::io::{Read, Write};
    let rest = url.strip_prefix("http://").unwrap();
    let (host, path) = rest.split_once('/').unwrap();
    let mut stream = std::net::TcpStream::connect(host).unwrap();
    write!(stream, "GET /{path} HTTP/1.0\r\nHost: {host}\r\n\r\n").unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    let body = answer.split_once("\r\n\r\n").unwrap().1;
    serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {answer}"))
}

/// Asks the viewer's `/api/scene` until `done` holds for it (60 s at most).
fn wait_for_scene(url: &str, what: &str, done: impl Fn(&Value) -> bool) -> Value {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let scene = get_json(&format!("{url}api/scene"));
        if done(&scene) {
            return scene;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "after 60 s the viewer still shows {scene}, not {what}"
        );
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
}

/// `splat view s3://…/JOB/` on a project in the cloud: the cameras the SfM job uploaded, the
/// newest checkpoint the training job uploaded (and each newer one; its preview where the job
/// writes them), then the final scene.sog; only the newest is kept in the mirror. A project with nothing to show yet is an
/// error naming it.
#[test]
fn view_follows_a_cloud_project_from_its_bucket() {
    let dir = tempfile::tempdir().unwrap();
    let (moto, _, _) = cloud();
    let ws = common::built_in(dir.path(), 5, 64, 48, 200);
    let run = dir.path().join("run");
    common::write_checkpoint(
        &run,
        10,
        &splat_test_support::sog::synthetic_cloud(2000, 2, 9),
    );
    let upload = |local: &Path, key: &str| {
        moto.boto3(
            "s3.upload_file(ARGS[0], 'splat-test', 'splat-jobs/castle-7/' + ARGS[1])",
            &[local.to_str().unwrap(), key],
        );
    };
    for name in ["cameras.bin", "images.bin", "points3D.bin"] {
        upload(
            &ws.join("sparse/0").join(name),
            &format!("sfm/sparse/0/{name}"),
        );
    }
    upload(
        &run.join("checkpoints/step_000010.ckpt"),
        "checkpoints/step_000010.ckpt",
    );
    let mirror = dir.path().join("mirror");
    let mut view = Command::new(env!("CARGO_BIN_EXE_splat"));
    view.args([
        "view",
        "s3://splat-test/splat-jobs/castle-7/",
        "--port",
        "0",
    ])
    .args(["--poll-seconds", "0.3", "--mirror"])
    .arg(&mirror)
    .envs(moto.env())
    .stdout(Stdio::piped())
    .stderr(Stdio::inherit());
    let mut server = view.spawn().unwrap();
    let mut line = String::new();
    BufReader::new(server.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let url = line.trim().to_string();
    assert!(url.starts_with("http://127.0.0.1:"), "{line:?}");
    let scene = get_json(&format!("{url}api/scene"));
    assert_eq!(scene["gaussians"], 2000, "{scene}");
    assert_eq!(scene["step"], 10, "{scene}");
    assert_eq!(scene["live"], true, "{scene}");
    assert_eq!(scene["cameras"].as_array().unwrap().len(), 5, "{scene}");
    assert_eq!(
        scene["title"], "s3://splat-test/splat-jobs/castle-7/ (step_000010.ckpt)",
        "{scene}"
    );

    // A newer checkpoint, with the optimiser's state as a trainer writes it: its model shown,
    // only the model fetched, and the older one gone from the mirror.
    common::write_checkpoint_with(
        &run,
        20,
        &splat_test_support::sog::synthetic_cloud(3000, 2, 11),
        true,
    );
    upload(
        &run.join("checkpoints/step_000020.ckpt"),
        "checkpoints/step_000020.ckpt",
    );
    wait_for_scene(&url, "step 20", |s| {
        s["step"] == 20 && s["gaussians"] == 3000
    });
    assert!(!mirror.join("checkpoints/step_000010.ckpt").exists());
    let size = |p: &Path| std::fs::metadata(p).unwrap().len() as f64;
    let (whole, mirrored) = (
        size(&run.join("checkpoints/step_000020.ckpt")),
        size(&mirror.join("checkpoints/step_000020.ckpt")),
    );
    assert!(
        mirrored < 0.4 * whole,
        "{mirrored} of {whole} bytes fetched"
    );
    let model = |p: &Path| {
        splat_train::checkpoint::Checkpoint::read(p)
            .unwrap()
            .model()
            .unwrap()
    };
    assert_eq!(
        model(&mirror.join("checkpoints/step_000020.ckpt")),
        model(&run.join("checkpoints/step_000020.ckpt"))
    );

    // A run that writes previews beside its checkpoints (as `splat train` does): the preview is
    // followed, the whole small file, and nothing of the checkpoint is fetched.
    let cloud30 = splat_test_support::sog::synthetic_cloud(3500, 2, 12);
    common::write_checkpoint_with(&run, 30, &cloud30, true);
    let ckpt30 = run.join("checkpoints/step_000030.ckpt");
    let preview30 = splat_train::checkpoint::write_preview(
        &run.join("checkpoints"),
        30,
        &splat_train::checkpoint::Checkpoint::read(&ckpt30)
            .unwrap()
            .model()
            .unwrap(),
    )
    .unwrap();
    upload(&preview30, "checkpoints/step_000030.spz");
    upload(&ckpt30, "checkpoints/step_000030.ckpt");
    let scene = wait_for_scene(&url, "the preview of step 30", |s| {
        s["step"] == 30 && s["gaussians"] == 3500
    });
    assert_eq!(
        scene["title"], "s3://splat-test/splat-jobs/castle-7/ (step_000030.spz)",
        "{scene}"
    );
    assert_eq!(
        std::fs::read(mirror.join("checkpoints/step_000030.spz")).unwrap(),
        std::fs::read(&preview30).unwrap()
    );
    let left: Vec<_> = std::fs::read_dir(mirror.join("checkpoints"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| !n.starts_with('.'))
        .collect();
    assert_eq!(left, ["step_000030.spz"]);

    // The compression job's scene.sog: the final model.
    let last = dir.path().join("last.ply");
    splat_scene::ply::write_ply(
        &last,
        &splat_test_support::sog::synthetic_cloud(2500, 2, 13),
    )
    .unwrap();
    let sog = dir.path().join("scene.sog");
    let o = splat(&[
        "compress",
        last.to_str().unwrap(),
        "-o",
        sog.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", text(&o));
    upload(&sog, "sog/scene.sog");
    let scene = wait_for_scene(&url, "the final scene.sog", |s| {
        s["model"]["format"] == "sog" && s["gaussians"] == 2500
    });
    assert!(scene.get("step").is_none(), "{scene}");
    assert_eq!(
        scene["title"], "s3://splat-test/splat-jobs/castle-7/ (scene.sog)",
        "{scene}"
    );
    assert_eq!(
        std::fs::read(mirror.join("scene.sog")).unwrap(),
        std::fs::read(&sog).unwrap()
    );
    let _ = server.kill();
    let _ = server.wait();

    // Nothing to show yet: an error that names the project, and no server.
    let o = Command::new(env!("CARGO_BIN_EXE_splat"))
        .args([
            "view",
            "s3://splat-test/splat-jobs/castle-8/",
            "--port",
            "0",
            "--mirror",
        ])
        .arg(dir.path().join("mirror8"))
        .envs(moto.env())
        .output()
        .unwrap();
    assert!(!o.status.success());
    let t = text(&o);
    assert!(
        t.contains("s3://splat-test/splat-jobs/castle-8/") && t.contains("no checkpoint"),
        "{t}"
    );
}
