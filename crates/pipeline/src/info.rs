//! `splat info`: the GPU adapters wgpu finds, the limits that matter to splat, and the choice.

use anyhow::Result;

#[derive(clap::Args)]
pub struct InfoArgs {
    /// Print JSON instead of text.
    #[arg(long)]
    json: bool,
}

pub fn run(args: InfoArgs) -> Result<()> {
    let adapters = splat_gpu::list_adapters()?;
    if args.json {
        let list: Vec<_> = adapters
            .iter()
            .map(|a| {
                serde_json::json!({
                    "name": a.name, "backend": format!("{:?}", a.backend), "type": format!("{:?}", a.device_type),
                    "driver": a.driver, "driver_info": a.driver_info, "selected": a.selected, "reason": a.reason,
                    "max_buffer_size": a.limits.max_buffer_size,
                    "max_storage_buffer_binding_size": a.limits.max_storage_buffer_binding_size,
                    "max_compute_workgroup_storage_size": a.limits.max_compute_workgroup_storage_size,
                    "max_compute_invocations_per_workgroup": a.limits.max_compute_invocations_per_workgroup,
                    "max_compute_workgroups_per_dimension": a.limits.max_compute_workgroups_per_dimension,
                })
            })
            .collect();
        println!("{}", serde_json::to_string_pretty(&list)?);
    } else {
        if adapters.is_empty() {
            println!("No GPU adapter found.\n{}", splat_gpu::LAVAPIPE_HINT);
        }
        for (i, a) in adapters.iter().enumerate() {
            let mark = if a.selected { "*" } else { " " };
            println!(
                "{mark} [{i}] {} ({:?}, {:?})",
                a.name, a.backend, a.device_type
            );
            println!("      driver: {} {}", a.driver, a.driver_info);
            let l = &a.limits;
            println!(
                "      max buffer {} MiB, max storage binding {} MiB, workgroup storage {} KiB, invocations/workgroup {}, workgroups/dim {}",
                l.max_buffer_size >> 20,
                l.max_storage_buffer_binding_size >> 20,
                l.max_compute_workgroup_storage_size >> 10,
                l.max_compute_invocations_per_workgroup,
                l.max_compute_workgroups_per_dimension
            );
            if a.selected {
                println!("      selected: {}", a.reason);
            }
        }
        match adapters.iter().find(|a| a.selected) {
            Some(a) => println!("splat will use: {}", a.name),
            None => {
                if let Some(a) = adapters.first() {
                    println!("no adapter selected: {}", a.reason);
                }
                anyhow::bail!("no usable GPU adapter");
            }
        }
    }
    Ok(())
}
