//! Stage options of `splat run` and `splat demo`: `--sfm.X`, `--train.X` and `--compress.X` pass
//! `--X` to that stage, with exactly the meaning, default and validation it has in `splat sfm`,
//! `splat train` or `splat compress` (`--train.steps 7000`, `--train.scale-schedule`,
//! `--compress.sh-bands=2`). They are taken out of the command line before clap sees the rest,
//! and each stage's list is later parsed by that stage's own clap definition.

use anyhow::{Result, bail};
use clap::{Args, FromArgMatches};
use std::ffi::OsString;

/// The stages, in the order `splat run` chains them.
pub const STAGES: [&str; 3] = ["sfm", "train", "compress"];

/// Options set by `splat run` itself; a stage option may not override them.
const RESERVED: [&str; 5] = ["output", "resume", "checkpoint-dir", "report", "help"];

/// One `--X [value]` for a stage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StageOption {
    pub name: String,
    pub value: Option<String>,
}

/// The options given to each stage, in command-line order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StageOptions {
    pub sfm: Vec<StageOption>,
    pub train: Vec<StageOption>,
    pub compress: Vec<StageOption>,
}

impl StageOptions {
    pub fn of(&self, stage: &str) -> &[StageOption] {
        match stage {
            "sfm" => &self.sfm,
            "train" => &self.train,
            _ => &self.compress,
        }
    }

    fn of_mut(&mut self, stage: &str) -> &mut Vec<StageOption> {
        match stage {
            "sfm" => &mut self.sfm,
            "train" => &mut self.train,
            _ => &mut self.compress,
        }
    }

    /// These options of `stage` added to the ones given, each replacing one of the same name.
    #[must_use]
    pub fn with_options(mut self, stage: &str, more: &[StageOption]) -> Self {
        let list = self.of_mut(stage);
        list.retain(|o| !more.iter().any(|m| m.name == o.name));
        list.extend_from_slice(more);
        self
    }

    /// `defaults` for `stage`, each replaced by the option of the same name given here.
    pub fn with_defaults(mut self, stage: &str, defaults: &[(&str, Option<&str>)]) -> Self {
        let given = self.of(stage).to_vec();
        let mut merged: Vec<StageOption> = defaults
            .iter()
            .filter(|(name, _)| !given.iter().any(|g| g.name == *name))
            .map(|(name, value)| StageOption {
                name: (*name).into(),
                value: value.map(String::from),
            })
            .collect();
        merged.extend(given);
        *self.of_mut(stage) = merged;
        self
    }
}

/// The clap definition of a stage's options (without the binary name).
fn stage_command(stage: &str) -> clap::Command {
    match stage {
        "sfm" => crate::sfm::SfmArgs::augment_args(clap::Command::new("splat sfm")),
        "train" => crate::train::TrainArgs::augment_args(clap::Command::new("splat train")),
        _ => crate::compress::CompressArgs::augment_args(clap::Command::new("splat compress")),
    }
}

/// Whether `--name` of `stage` exists and takes a value (`None`: no such option).
fn takes_value(stage: &str, name: &str) -> Option<bool> {
    let cmd = stage_command(stage);
    cmd.get_arguments()
        .find(|a| a.get_long() == Some(name))
        .map(|a| a.get_action().takes_values())
}

/// Splits `argv` (the binary's whole command line) into the arguments clap parses and the
/// stage options. Only `run` and `demo` take stage options; other commands pass unchanged.
pub fn split(argv: Vec<OsString>) -> Result<(Vec<OsString>, StageOptions)> {
    let mut opts = StageOptions::default();
    let takes_stage_options = argv
        .get(1)
        .is_some_and(|c| c == "run" || c == "demo" || c == "sagemaker" || c == "submit");
    if !takes_stage_options {
        return Ok((argv, opts));
    }
    let mut rest = Vec::with_capacity(argv.len());
    let mut it = argv.into_iter().peekable();
    while let Some(arg) = it.next() {
        let Some((stage, name, inline)) = arg.to_str().and_then(parse_dotted) else {
            rest.push(arg);
            continue;
        };
        let value = match takes_value(stage, &name) {
            None => bail!(
                "--{stage}.{name}: `splat {stage}` has no option --{name} (see `splat {stage} --help`)"
            ),
            Some(_) if RESERVED.contains(&name.as_str()) => {
                bail!("--{stage}.{name}: set by `splat run` itself, not a stage option")
            }
            Some(true) => match inline {
                Some(v) => Some(v),
                None => match it.next().map(std::ffi::OsString::into_string) {
                    Some(Ok(v)) => Some(v),
                    Some(Err(_)) => bail!("--{stage}.{name}: the value is not valid UTF-8"),
                    None => bail!("--{stage}.{name} needs a value"),
                },
            },
            Some(false) => {
                if inline.is_some() {
                    bail!("--{stage}.{name} is a switch and takes no value");
                }
                None
            }
        };
        opts.of_mut(stage).push(StageOption { name, value });
    }
    Ok((rest, opts))
}

/// Options of `stage` from (name, value) pairs, as SageMaker hyperparameters give them: a name
/// is the option's long name with `-` or `_` alike, and switches take "true" or "false". Every
/// unknown or reserved name is listed in the error, as given.
pub fn from_pairs(stage: &str, pairs: &[(String, String)]) -> Result<Vec<StageOption>> {
    let long = |n: &str| n.replace('_', "-");
    let unknown: Vec<&str> = pairs
        .iter()
        .filter(|(n, _)| {
            takes_value(stage, &long(n)).is_none() || RESERVED.contains(&long(n).as_str())
        })
        .map(|(n, _)| n.as_str())
        .collect();
    if !unknown.is_empty() {
        bail!(
            "unknown hyperparameter(s) {}: each must be an option of `splat {stage}` (see `splat {stage} --help`), other than {}",
            unknown.join(", "),
            RESERVED.join(", ")
        );
    }
    let mut out = Vec::new();
    for (given, value) in pairs {
        let name = long(given);
        if takes_value(stage, &name) == Some(true) {
            out.push(StageOption {
                name,
                value: Some(value.clone()),
            });
        } else {
            match value.to_ascii_lowercase().as_str() {
                "true" => out.push(StageOption { name, value: None }),
                "false" => {}
                _ => bail!(
                    "hyperparameter {given} is a switch: \"true\" or \"false\", not \"{value}\""
                ),
            }
        }
    }
    Ok(out)
}

/// Every stage's options from one JSON object, as the state machine's execution input gives
/// them (`{"sfm": {"matcher": "sequential"}, "train": {"steps": "7000"}}`): each stage an
/// object of option names (`-` or `_` alike) to strings, switches "true" or "false". Unknown
/// stages, unknown options and values that are not strings are errors naming them; the values
/// are for each stage's own parser to judge ([`check`], once the options are complete).
pub fn from_json(text: &str) -> Result<StageOptions> {
    let json: serde_json::Value =
        serde_json::from_str(text).map_err(|e| anyhow::anyhow!("stage options: not JSON ({e})"))?;
    let Some(map) = json.as_object() else {
        bail!(
            "stage options: not a JSON object of stages ({})",
            STAGES.join(", ")
        );
    };
    let mut opts = StageOptions::default();
    for (stage, options) in map {
        let Some(stage) = STAGES.into_iter().find(|s| s == stage) else {
            bail!(
                "stage options: no stage '{stage}' (the stages are {})",
                STAGES.join(", ")
            );
        };
        let Some(options) = options.as_object() else {
            bail!("stage options: {stage} is not an object of option names to strings");
        };
        let mut pairs = Vec::new();
        for (name, value) in options {
            let Some(v) = value.as_str() else {
                bail!(
                    "stage options: {stage}.{name} is {value}, not a string (write every value as a string, as SageMaker passes hyperparameters)"
                );
            };
            pairs.push((name.clone(), v.to_string()));
        }
        let parsed = from_pairs(stage, &pairs).map_err(|e| anyhow::anyhow!("{stage}: {e}"))?;
        opts.of_mut(stage).extend(parsed);
    }
    Ok(opts)
}

/// Checks every stage's options with that stage's own parser (values included) against
/// placeholder inputs, so that a bad value fails before any stage runs.
pub fn check(opts: &StageOptions) -> Result<()> {
    for stage in STAGES {
        let mut args = vec!["INPUT".to_string(), "-o".into(), "OUTPUT".into()];
        args.extend(words(opts.of(stage)));
        let checked = match stage {
            "sfm" => parse::<crate::sfm::SfmArgs>(stage, &args).map(drop),
            "train" => parse::<crate::train::TrainArgs>(stage, &args).map(drop),
            _ => parse::<crate::compress::CompressArgs>(stage, &args).map(drop),
        };
        checked?;
    }
    Ok(())
}

/// `--stage.name[=value]` → (stage, name, value).
fn parse_dotted(arg: &str) -> Option<(&'static str, String, Option<String>)> {
    let body = arg.strip_prefix("--")?;
    let (head, tail) = body.split_once('.')?;
    let stage = STAGES.into_iter().find(|s| *s == head)?;
    let (name, value) = match tail.split_once('=') {
        Some((n, v)) => (n.to_string(), Some(v.to_string())),
        None => (tail.to_string(), None),
    };
    Some((stage, name, value))
}

/// The command-line words of a stage's options: `--name value` / `--name`.
pub fn words(options: &[StageOption]) -> Vec<String> {
    let mut out = Vec::new();
    for o in options {
        out.push(format!("--{}", o.name));
        if let Some(v) = &o.value {
            out.push(v.clone());
        }
    }
    out
}

/// Parses a stage's arguments (positionals first, then options) with its own clap definition.
pub fn parse<T: FromArgMatches>(stage: &str, args: &[String]) -> Result<T> {
    let argv = std::iter::once(format!("splat {stage}")).chain(args.iter().cloned());
    let matches = stage_command(stage)
        .try_get_matches_from(argv)
        .map_err(|e| anyhow::anyhow!("stage options for {stage}: {}", e.render()))?;
    Ok(T::from_arg_matches(&matches)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hyperparameter_pairs_become_options_and_unknown_ones_are_named() {
        let p = |v: &[(&str, &str)]| -> Vec<(String, String)> {
            v.iter()
                .map(|(a, b)| (a.to_string(), b.to_string()))
                .collect()
        };
        let o = from_pairs(
            "train",
            &p(&[("steps", "30"), ("scale-schedule", "true"), ("resume", "x")]),
        )
        .unwrap_err()
        .to_string();
        assert!(o.contains("resume"), "{o}");
        let o = from_pairs(
            "train",
            &p(&[
                ("steps", "30"),
                ("scale-schedule", "true"),
                ("eval-every", "0"),
            ]),
        )
        .unwrap();
        assert_eq!(
            words(&o),
            ["--steps", "30", "--scale-schedule", "--eval-every", "0"]
        );
        let e = from_pairs("train", &p(&[("stepz", "3"), ("l_r", "1")]))
            .unwrap_err()
            .to_string();
        assert!(e.contains("stepz, l_r"), "{e}");
        assert!(from_pairs("train", &p(&[("scale-schedule", "yes")])).is_err());
        assert!(
            from_pairs("train", &p(&[("scale-schedule", "False")]))
                .unwrap()
                .is_empty()
        );
    }

    #[test]
    fn json_options_are_checked_for_every_stage_before_any_runs() {
        let o = from_json(
            r#"{"sfm": {"matcher": "sequential"}, "train": {"steps": "70", "scale_schedule": "true"}, "compress": {"sh-bands": "2"}}"#,
        )
        .unwrap();
        assert_eq!(words(&o.sfm), ["--matcher", "sequential"]);
        // In name order (a JSON object has none of its own).
        assert_eq!(words(&o.train), ["--scale-schedule", "--steps", "70"]);
        assert_eq!(words(&o.compress), ["--sh-bands", "2"]);
        assert_eq!(from_json("{}").unwrap(), StageOptions::default());
        let err = |t: &str| {
            from_json(t)
                .and_then(|o| check(&o))
                .unwrap_err()
                .to_string()
        };
        assert!(err(r#"{"trian": {}}"#).contains("no stage 'trian'"));
        assert!(err(r#"{"train": {"stepz": "3"}}"#).contains("stepz"));
        assert!(err(r#"{"train": {"steps": 3}}"#).contains("not a string"));
        // A value only the stage's own parser can judge.
        assert!(err(r#"{"compress": {"sh-bands": "seven"}}"#).contains("seven"));
        assert!(err(r#"{"sfm": {"matcher": "telepathy"}}"#).contains("telepathy"));
        assert!(err("[1]").contains("not a JSON object"));
    }

    #[test]
    fn added_options_replace_those_of_the_same_name() {
        let (_, o) = split(os(&[
            "splat",
            "sagemaker",
            "--train.steps",
            "10",
            "--train.seed",
            "2",
        ]))
        .unwrap();
        let more = from_json(r#"{"train": {"steps": "20"}}"#).unwrap();
        let o = o.with_options("train", &more.train);
        assert_eq!(words(&o.train), ["--seed", "2", "--steps", "20"]);
        check(&o).unwrap();
    }

    fn os(v: &[&str]) -> Vec<OsString> {
        v.iter().map(OsString::from).collect()
    }

    #[test]
    fn splits_values_switches_and_inline_values() {
        let (rest, o) = split(os(&[
            "splat",
            "run",
            "photos",
            "--train.steps",
            "700",
            "-o",
            "w",
            "--train.scale-schedule",
            "--compress.sh-bands=2",
            "--sfm.matcher",
            "sequential",
        ]))
        .unwrap();
        assert_eq!(rest, os(&["splat", "run", "photos", "-o", "w"]));
        assert_eq!(words(&o.train), ["--steps", "700", "--scale-schedule"]);
        assert_eq!(words(&o.compress), ["--sh-bands", "2"]);
        assert_eq!(words(&o.sfm), ["--matcher", "sequential"]);
    }

    #[test]
    fn other_commands_are_untouched() {
        let argv = os(&["splat", "train", "d", "-o", "w", "--train.steps", "3"]);
        assert_eq!(split(argv.clone()).unwrap().0, argv);
    }

    #[test]
    fn unknown_reserved_and_malformed_options_are_errors() {
        let err = |v: &[&str]| split(os(v)).unwrap_err().to_string();
        assert!(err(&["splat", "run", "--train.stepz", "3"]).contains("no option --stepz"));
        assert!(err(&["splat", "run", "--train.output", "x"]).contains("set by `splat run`"));
        assert!(err(&["splat", "run", "--train.steps"]).contains("needs a value"));
        assert!(err(&["splat", "run", "--train.resume"]).contains("set by `splat run`"));
        assert!(err(&["splat", "run", "--train.scale-schedule=1"]).contains("takes no value"));
    }

    #[test]
    fn defaults_yield_to_given_options_and_values_are_validated_by_the_stage() {
        let (_, o) = split(os(&["splat", "demo", "--train.steps", "10"])).unwrap();
        let o = o.with_defaults("train", &[("steps", Some("1500")), ("seed", Some("1"))]);
        assert_eq!(words(&o.train), ["--seed", "1", "--steps", "10"]);
        let mut args = vec!["data".to_string(), "-o".into(), "out".into()];
        args.extend(words(&o.train));
        assert!(parse::<crate::train::TrainArgs>("train", &args).is_ok());
        args.truncate(3);
        args.extend(["--steps".into(), "many".into()]);
        let e = parse::<crate::train::TrainArgs>("train", &args)
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains("many"), "{e}");
    }
}
