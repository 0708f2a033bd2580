//! Running out of disk (issue 24): on a small tmpfs filled to the brim (or, where this process
//! may not mount one, under a file-size limit, RLIMIT_FSIZE), `splat run` and `splat compress`
//! fail with a message naming the file and saying the disk is full; finished stages and existing
//! outputs are left as they were, nothing half-written or temporary remains, and the same
//! command run again once there is room completes with what an untroubled run writes.
//! `SPLAT_FULL_DISK=rlimit` tests the fallback where a mount would work.

mod common;

use common::{files_under, run_args, small_scene, splat_owned, text};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// Where the workspace lives, and how it runs out of room.
enum Disk {
    /// A tmpfs mounted here; unmounted on drop.
    Tmpfs(PathBuf),
    /// No mount allowed: commands run with this file-size limit instead.
    Limit(PathBuf),
}

impl Disk {
    fn new(dir: &Path) -> Disk {
        let mnt = dir.join("disk");
        std::fs::create_dir_all(&mnt).unwrap();
        // SPLAT_FULL_DISK=rlimit takes the fallback even where a mount would work.
        let forced = std::env::var("SPLAT_FULL_DISK").is_ok_and(|v| v == "rlimit");
        let ok = !forced
            && Command::new("mount")
                .args(["-t", "tmpfs", "-o", "size=48m", "tmpfs"])
                .arg(&mnt)
                .output()
                .is_ok_and(|o| o.status.success());
        if ok {
            Disk::Tmpfs(mnt)
        } else {
            println!(
                "full disk: no tmpfs (not permitted here, or SPLAT_FULL_DISK=rlimit); using RLIMIT_FSIZE"
            );
            Disk::Limit(mnt)
        }
    }

    fn root(&self) -> &Path {
        match self {
            Disk::Tmpfs(p) | Disk::Limit(p) => p,
        }
    }

    /// Leaves about `room` bytes free (tmpfs), or limits files to `room` bytes.
    fn fill(&self, room: u64) -> Option<u64> {
        match self {
            Disk::Tmpfs(p) => {
                let filler = p.join("filler");
                let mut f = std::fs::File::create(&filler).unwrap();
                let chunk = vec![7u8; 1 << 16];
                while f.write_all(&chunk).is_ok() {}
                drop(f);
                let len = std::fs::metadata(&filler).unwrap().len();
                std::fs::OpenOptions::new()
                    .write(true)
                    .open(&filler)
                    .unwrap()
                    .set_len(len.saturating_sub(room))
                    .unwrap();
                None
            }
            Disk::Limit(_) => Some(room),
        }
    }

    fn make_room(&self) {
        if let Disk::Tmpfs(p) = self {
            std::fs::remove_file(p.join("filler")).unwrap();
        }
    }

    /// Runs `splat args…` on this disk (under the limit, if it is one).
    fn splat(&self, args: &[String], limit: Option<u64>) -> Output {
        match limit {
            None => splat_owned(args),
            // A process past its limit gets SIGXFSZ, which kills it unless ignored; ignored, the
            // write fails with EFBIG, as a full disk fails it with ENOSPC.
            Some(bytes) => Command::new("bash")
                .arg("-c")
                .arg(format!("trap '' XFSZ; exec prlimit --fsize={bytes} \"$@\""))
                .arg("splat")
                .arg(env!("CARGO_BIN_EXE_splat"))
                .args(args)
                .output()
                .unwrap(),
        }
    }
}

impl Drop for Disk {
    fn drop(&mut self) {
        if let Disk::Tmpfs(p) = self {
            let _ = Command::new("umount").arg(p.as_os_str()).status();
        }
    }
}

fn files_named_tmp(w: &Path) -> Vec<PathBuf> {
    files_under(w, |n| n.contains(".tmp"))
}

fn assert_full_disk_failure(o: &Output, w: &Path) {
    let t = text(o);
    assert!(!o.status.success(), "succeeded on a full disk:\n{t}");
    assert_ne!(o.status.code(), Some(101), "panicked:\n{t}");
    assert!(t.contains("the disk is full"), "{t}");
    assert!(
        t.contains(&w.display().to_string()),
        "the error names no file in {}:\n{t}",
        w.display()
    );
}

#[test]
fn a_full_disk_fails_clearly_keeps_finished_work_and_a_rerun_completes() {
    let dir = tempfile::tempdir().unwrap();
    let images = small_scene(dir.path());

    // What an untroubled run writes, on the ordinary disk.
    let reference = dir.path().join("reference");
    let o = splat_owned(&run_args(&images, &reference, "150", "50"));
    assert!(o.status.success(), "{}", text(&o));

    let disk = Disk::new(dir.path());
    let w = disk.root().join("w");
    let o = disk.splat(&run_args(&images, &w, "100", "50"), None);
    assert!(o.status.success(), "{}", text(&o));
    let sfm_done = std::fs::read(w.join("sfm.done.json")).unwrap();
    let sparse = std::fs::read(w.join("sparse/0/images.bin")).unwrap();

    // Training asked for more steps, with no room for its checkpoints: it fails, sfm's work
    // stays, nothing half-written or temporary remains.
    let limit = disk.fill(64 << 10);
    let o = disk.splat(&run_args(&images, &w, "150", "50"), limit);
    assert_full_disk_failure(&o, &w);
    assert_eq!(std::fs::read(w.join("sfm.done.json")).unwrap(), sfm_done);
    assert_eq!(
        std::fs::read(w.join("sparse/0/images.bin")).unwrap(),
        sparse
    );
    assert!(!w.join("train.done.json").exists());
    assert_eq!(files_named_tmp(&w), Vec::<PathBuf>::new());
    for ckpt in std::fs::read_dir(w.join("checkpoints")).unwrap().flatten() {
        let p = ckpt.path();
        assert!(
            std::fs::metadata(&p).unwrap().len() > 0,
            "{} is empty",
            p.display()
        );
    }

    // With room again, the same command completes, reusing sfm, and writes what the untroubled
    // run wrote.
    disk.make_room();
    let o = disk.splat(&run_args(&images, &w, "150", "50"), None);
    let t = text(&o);
    assert!(o.status.success(), "{t}");
    assert!(t.contains("sfm: complete, reused"), "{t}");
    for f in ["point_cloud.ply", "scene.sog"] {
        assert!(
            std::fs::read(w.join(f)).unwrap() == std::fs::read(reference.join(f)).unwrap(),
            "{f} differs from the untroubled run's"
        );
    }

    // Compressing over an existing scene.sog on a full disk leaves the old file as it was.
    let sog = w.join("scene.sog");
    let before = std::fs::read(&sog).unwrap();
    let ply = w.join("point_cloud.ply");
    let args = [
        "compress",
        ply.to_str().unwrap(),
        "-o",
        sog.to_str().unwrap(),
    ]
    .into_iter()
    .chain(["--order", "morton"])
    .map(String::from)
    .collect::<Vec<_>>();
    let limit = disk.fill(4 << 10);
    let o = disk.splat(&args, limit);
    assert_full_disk_failure(&o, &w);
    assert!(
        std::fs::read(&sog).unwrap() == before,
        "scene.sog was changed"
    );
    assert_eq!(files_named_tmp(&w), Vec::<PathBuf>::new());
    disk.make_room();
    let o = disk.splat(&args, None);
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        std::fs::read(&sog).unwrap() != before,
        "scene.sog was not rewritten"
    );
}
