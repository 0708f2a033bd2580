//! Crash soak of `splat run` (issue 24): the built-in scene run once without interruption, then
//! again in another workspace killed with SIGKILL at random moments of each stage (sfm,
//! training, compression) and rerun each time, until a run ends by itself. The final
//! `point_cloud.ply` and `scene.sog` must be byte-identical to the uninterrupted run's, no
//! temporary file may be left, and no finished stage redone: once a stage's done record exists,
//! neither it nor the stage's outputs change.
//!
//! `SPLAT_SOAK_KILLS=N` (kill points, spread over the stages in proportion, default 11) and
//! `SPLAT_SOAK_SEED=S` make it longer or different; `scripts/soak.sh` is the long run.

mod common;

use common::{files_under, run_args, small_scene, splat_owned, text};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant, SystemTime};

const STAGES: [&str; 3] = ["sfm", "train", "compress"];
/// Training steps of the soak's runs.
const STEPS: u32 = 200;
/// Each stage's record and main output.
const OUTPUTS: [(&str, &str); 3] = [
    ("sfm.done.json", "sparse/0/images.bin"),
    ("train.done.json", "point_cloud.ply"),
    ("compress.done.json", "scene.sog"),
];

/// A small deterministic generator for the kill moments.
struct Lcg(u64);

impl Lcg {
    fn unit(&mut self) -> f64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 11) as f64 / (1u64 << 53) as f64
    }
}

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Finished stages' records (bytes) and their outputs' modification times.
fn finished(w: &Path) -> Vec<(String, Vec<u8>, SystemTime)> {
    OUTPUTS
        .iter()
        .filter_map(|(done, out)| {
            let rec = std::fs::read(w.join(done)).ok()?;
            let t = std::fs::metadata(w.join(out)).ok()?.modified().ok()?;
            Some((done.to_string(), rec, t))
        })
        .collect()
}

/// The stage a run in `w` is in: the first without a done record.
fn unfinished_stage(w: &Path) -> Option<&'static str> {
    STAGES
        .iter()
        .zip(OUTPUTS)
        .find(|(_, (done, _))| !w.join(done).exists())
        .map(|(s, _)| *s)
}

/// For training (stage 1), the fraction of its steps after the newest checkpoint; else 1.
fn left_to_train(w: &Path, stage: usize) -> f64 {
    if stage != 1 {
        return 1.0;
    }
    let done = files_under(&w.join("checkpoints"), |n| n.ends_with(".ckpt"))
        .iter()
        .filter_map(|p| {
            p.file_stem()?
                .to_str()?
                .strip_prefix("step_")?
                .parse::<u32>()
                .ok()
        })
        .max()
        .unwrap_or(0);
    f64::from(STEPS.saturating_sub(done)) / f64::from(STEPS)
}

/// Every file under `w` that a write in progress would have left.
fn temporaries(w: &Path) -> Vec<PathBuf> {
    files_under(w, |n| n.ends_with(".tmp") || n.ends_with("-journal"))
}

/// Starts `splat run`, waits until `stage` prints that it is running, sleeps `delay`, and
/// kills the run with SIGKILL. Returns the stage it was in when killed, or `None` when the run
/// ended by itself first (it must have succeeded).
fn kill_during(args: &[String], stage: &str, delay: Duration, w: &Path) -> Option<&'static str> {
    let mut child = Command::new(env!("CARGO_BIN_EXE_splat"))
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("starting splat run");
    let (tx, rx) = mpsc::channel();
    let stderr = child.stderr.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let wanted = format!("{stage}: running");
    let mut log = String::new();
    let t0 = Instant::now();
    let started = loop {
        match rx.recv_timeout(Duration::from_millis(20)) {
            Ok(line) => {
                let hit = line.starts_with(&wanted);
                log += &line;
                log.push('\n');
                if hit {
                    break true;
                }
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => break false,
        }
        assert!(
            t0.elapsed() < Duration::from_secs(600),
            "no '{wanted}' in 10 minutes:\n{log}"
        );
    };
    if started {
        let until = Instant::now() + delay;
        while Instant::now() < until && child.try_wait().unwrap().is_none() {
            std::thread::sleep(Duration::from_millis(2));
        }
    }
    let status = child.try_wait().unwrap();
    if let Some(status) = status {
        log.extend(rx.try_iter().map(|l| l + "\n"));
        assert!(status.success(), "splat run failed:\n{log}");
        return None;
    }
    // Where it is now: the done records written so far say.
    let landed = unfinished_stage(w);
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    landed
}

#[test]
fn a_run_killed_at_random_moments_ends_byte_identical_to_an_uninterrupted_one() {
    let kills = env_or("SPLAT_SOAK_KILLS", 11) as usize;
    let mut rng = Lcg(env_or("SPLAT_SOAK_SEED", 24));
    let dir = tempfile::tempdir().unwrap();
    let images = small_scene(dir.path());

    let reference = dir.path().join("reference");
    let args = run_args(&images, &reference, &STEPS.to_string(), "25");
    let o = splat_owned(&args);
    assert!(o.status.success(), "{}", text(&o));
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(reference.join("report.json")).unwrap()).unwrap();
    let seconds: Vec<f64> = report["stages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["seconds"].as_f64().unwrap())
        .collect();

    // Kill points in proportion 4 : 4 : 3, each at a random moment in the first half of what
    // is left of its stage (the uninterrupted run's time; for training, the part of it after the
    // newest checkpoint), so that a stage is rarely finished before its kill points are spent.
    let w = dir.path().join("soak");
    let args = run_args(&images, &w, &STEPS.to_string(), "25");
    let plan: Vec<usize> = (0..kills)
        .map(|k| (k * 11 / kills).min(10) * 3 / 11)
        .collect();
    let mut landed = [0usize; 3];
    let mut runs = 0;
    for &s in &plan {
        let stage = STAGES[s];
        if w.join(OUTPUTS[s].0).exists() {
            continue; // already finished: a kill aimed at it would land later
        }
        let before = finished(&w);
        let delay = Duration::from_secs_f64(rng.unit() * 0.5 * seconds[s] * left_to_train(&w, s));
        let at = kill_during(&args, stage, delay, &w);
        runs += 1;
        let after = finished(&w);
        for rec in &before {
            assert!(
                after.contains(rec),
                "{} or its output changed after a rerun: a finished stage was redone",
                rec.0
            );
        }
        match at {
            Some(st) => landed[STAGES.iter().position(|x| *x == st).unwrap()] += 1,
            None => break,
        }
    }
    // The last run, uninterrupted. A kill rarely lands inside a write (they take
    // milliseconds), so what one leaves is planted too, under the names the writers use.
    for planted in [
        ".point_cloud.ply.a1B2c3.tmp",
        "checkpoints/.step_000050.ckpt.Zz9yX8.tmp",
        "images/.view_003.png.q0W1e2.tmp",
        "database.db.tmp",
        "database.db.tmp-journal",
    ] {
        let p = w.join(planted);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, b"cut short").unwrap();
    }
    let before = finished(&w);
    let o = splat_owned(&args);
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        text(&o).contains("removed 5 temporary file(s)"),
        "{}",
        text(&o)
    );
    let after = finished(&w);
    for rec in &before {
        assert!(after.contains(rec), "{} changed in the last run", rec.0);
    }
    println!(
        "soak: {} kill points (sfm {}, train {}, compress {}) in {} runs, then one to the end",
        landed.iter().sum::<usize>(),
        landed[0],
        landed[1],
        landed[2],
        runs
    );
    for f in ["point_cloud.ply", "scene.sog", "sparse/0/images.bin"] {
        assert!(
            std::fs::read(w.join(f)).unwrap() == std::fs::read(reference.join(f)).unwrap(),
            "{f} differs from the uninterrupted run's"
        );
    }
    let left = temporaries(&w);
    assert!(left.is_empty(), "temporaries left behind: {left:?}");
    assert!(
        landed.iter().sum::<usize>() >= kills.min(10) && landed.iter().all(|&n| n > 0),
        "kill points per stage: {landed:?}"
    );
}
