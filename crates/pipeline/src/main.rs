//! `splat`: photos in, a compact 3D Gaussian Splatting scene out. This binary is the command
//! line over the stage crates; each subcommand lives in its own module.

// Library code (not its tests) never unwraps, expects or panics on what a user can influence;
// where an invariant makes one impossible, the site says so with an `allow` and why.
#![cfg_attr(
    not(test),
    warn(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

mod compress;
mod demo;
mod done;
mod eval;
mod export;
mod generate;
mod info;
mod interrupt;
mod matching;
mod model_file;
mod progress;
mod progress_file;
mod render;
mod report;
mod run;
mod sagemaker;
mod sfm;
mod sfm_eval;
mod stage_options;
mod submit;
mod train;
mod undistort;
mod view;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "splat",
    version,
    about = "Photos in, a compact 3D Gaussian Splatting scene out"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// The built-in scene through every stage, with the figures that show it worked (README's first command).
    Demo(demo::DemoArgs),
    /// The container's entry point for SageMaker training (train) and processing (sfm, compress, run) jobs.
    Sagemaker(sagemaker::SagemakerArgs),
    /// Photos → SfM → training → compression in one workspace; reruns reuse finished stages.
    Run(run::RunArgs),
    /// List the GPU adapters, their limits, and which one splat would use.
    Info(info::InfoArgs),
    /// Generate the built-in scene (exact cameras) as a COLMAP workspace and transforms.json.
    Generate(generate::GenerateArgs),
    /// PSNR and SSIM of a 3DGS PLY on a dataset's held-out views.
    Eval(eval::EvalArgs),
    /// Render a 3DGS PLY from the cameras of a COLMAP workspace or transforms_*.json folder.
    Render(render::RenderArgs),
    /// Features, matches and verified pairs of a folder of photos, as a COLMAP database.
    Match(matching::MatchArgs),
    /// Structure from motion: photos → COLMAP model (and PINHOLE images ready for training).
    Sfm(sfm::SfmArgs),
    /// Camera poses of a model against a ground truth (COLMAP model or Strecha .camera files).
    SfmEval(sfm_eval::SfmEvalArgs),
    /// Train a 3DGS model (adaptive density control, checkpoints, --resume).
    Train(train::TrainArgs),
    /// Compress a 3DGS PLY into a PlayCanvas SOG (v2: .sog bundle or unbundled folder).
    Compress(compress::CompressArgs),
    /// Decode a SOG (v1 or v2, bundled or not) back into a 3DGS PLY.
    Decompress(compress::DecompressArgs),
    /// Turn a COLMAP workspace with distorted cameras into a PINHOLE one (images + sparse/0).
    Undistort(undistort::UndistortArgs),
    /// Look at a model in the browser: a local web viewer (PLY, SOG or a workspace).
    View(view::ViewArgs),
    /// Write a model in another form: one-file web page (.html), .ply, .compressed.ply, .splat, .spz, .sog.
    Export(export::ExportArgs),
    /// Run a project in the cloud (deploy/): upload the photos, start it, follow it, download scene.sog.
    Submit(submit::SubmitArgs),
}

/// Mesa's Vulkan drivers (lavapipe among them) probe for a Wayland display and print
/// "XDG_RUNTIME_DIR is invalid or not set" on stderr when the variable is unset, as on servers and
/// in containers. splat draws nothing on screen, so the probe only needs a folder that exists.
#[allow(unsafe_code)] // audited: each unsafe block below says why it is sound
fn quiet_window_system_probe() {
    if std::env::var_os("XDG_RUNTIME_DIR").is_none() {
        // SAFETY: called first thing in `main`, before any thread is started, so nothing reads
        // the environment concurrently.
        unsafe { std::env::set_var("XDG_RUNTIME_DIR", std::env::temp_dir()) };
    }
}

fn main() {
    quiet_window_system_probe();
    let (argv, stages) = match stage_options::split(std::env::args_os().collect()) {
        Ok(x) => x,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::exit(2);
        }
    };
    let cli = Cli::parse_from(argv);
    let result = match cli.command {
        Command::Demo(mut a) => {
            a.stages = stages;
            demo::run(a)
        }
        Command::Sagemaker(mut a) => {
            a.stages = stages;
            sagemaker::run(a)
        }
        Command::Run(mut a) => {
            a.stages = stages;
            run::run(a)
        }
        Command::Info(a) => info::run(a),
        Command::Generate(a) => generate::run(a),
        Command::Undistort(a) => undistort::run(a),
        Command::Render(a) => render::run(a),
        Command::Eval(a) => eval::run(a),
        Command::Train(a) => train::run(a),
        Command::Match(a) => matching::run(a),
        Command::Sfm(a) => sfm::run(a),
        Command::SfmEval(a) => sfm_eval::run(a),
        Command::Compress(a) => compress::run_compress(a),
        Command::Decompress(a) => compress::run_decompress(a),
        Command::View(a) => view::run(a),
        Command::Export(a) => export::run(a),
        Command::Submit(mut a) => {
            a.stages = stages;
            submit::run(a)
        }
    };
    if let Err(e) = result {
        eprintln!("error: {e:#}");
        if out_of_space(&e) {
            eprintln!(
                "the disk is full (or a file-size limit was reached): free some space and run the same command again; finished work is kept and what was cut short is redone"
            );
        }
        std::process::exit(1);
    }
}

/// Whether a failure comes from a write that found no room.
fn out_of_space(e: &anyhow::Error) -> bool {
    use std::io::ErrorKind;
    e.chain()
        .filter_map(|c| c.downcast_ref::<std::io::Error>())
        .any(|io| {
            matches!(
                io.kind(),
                ErrorKind::StorageFull | ErrorKind::FileTooLarge | ErrorKind::QuotaExceeded
            )
        })
}
