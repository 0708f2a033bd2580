//! Adapter discovery and device creation.
//!
//! Policy: `SPLAT_ADAPTER=<substring>` picks the first adapter whose name contains it (case
//! insensitive); otherwise a discrete GPU beats an integrated one, which beats a virtual one,
//! which beats a CPU implementation such as lavapipe.

use crate::GpuError;
use std::sync::{Arc, Mutex};

/// How to get a working Vulkan device on a machine without a GPU.
pub const LAVAPIPE_HINT: &str = "On a machine without a GPU install Mesa's software Vulkan driver (lavapipe): \
`sudo apt-get install -y mesa-vulkan-drivers libvulkan1` (Debian/Ubuntu). On a GPU machine, install the \
vendor's Vulkan driver (NVIDIA: the driver's Vulkan ICD; in containers set NVIDIA_DRIVER_CAPABILITIES to include `graphics`).";

/// What `splat info` shows about one adapter.
#[derive(Debug, Clone)]
pub struct AdapterSummary {
    pub name: String,
    pub backend: wgpu::Backend,
    pub device_type: wgpu::DeviceType,
    pub driver: String,
    pub driver_info: String,
    pub limits: wgpu::Limits,
    /// Whether this is the adapter `GpuContext::new` would use.
    pub selected: bool,
    /// Why it was (or was not) chosen.
    pub reason: String,
}

/// A device and queue with the adapter they came from.
pub struct GpuContext {
    pub adapter: wgpu::Adapter,
    pub device: wgpu::Device,
    pub queue: wgpu::Queue,
    pub info: wgpu::AdapterInfo,
    pub limits: wgpu::Limits,
    /// The first failure wgpu reported outside an error scope: a lost device, or an error in
    /// work already submitted. Once set, nothing the device computes can be trusted.
    fault: Arc<Mutex<Option<GpuError>>>,
}

/// Records the first fault (later ones follow from it).
fn record(fault: &Mutex<Option<GpuError>>, e: GpuError) {
    if let Ok(mut f) = fault.lock()
        && f.is_none()
    {
        *f = Some(e);
    }
}

fn instance() -> wgpu::Instance {
    let mut desc = wgpu::InstanceDescriptor::new_without_display_handle_from_env();
    // GL is not built in; Vulkan, Metal and DX12 are the compute backends we support.
    desc.backends = wgpu::Backends::PRIMARY;
    wgpu::Instance::new(desc)
}

fn type_rank(t: wgpu::DeviceType) -> u32 {
    match t {
        wgpu::DeviceType::DiscreteGpu => 0,
        wgpu::DeviceType::IntegratedGpu => 1,
        wgpu::DeviceType::VirtualGpu => 2,
        wgpu::DeviceType::Cpu => 3,
        wgpu::DeviceType::Other => 4,
    }
}

/// The facts adapter selection looks at.
struct Candidate {
    name: String,
    device_type: wgpu::DeviceType,
    backend: wgpu::Backend,
}

impl From<&wgpu::AdapterInfo> for Candidate {
    fn from(i: &wgpu::AdapterInfo) -> Self {
        Self {
            name: i.name.clone(),
            device_type: i.device_type,
            backend: i.backend,
        }
    }
}

/// Returns the index of the adapter to use and why, or an error naming what was found.
fn choose(infos: &[Candidate], wanted: Option<&str>) -> Result<(usize, String), GpuError> {
    if infos.is_empty() {
        return Err(GpuError::NoAdapter(format!(
            "no GPU adapter was found (Vulkan, Metal or DX12). {LAVAPIPE_HINT}"
        )));
    }
    if let Some(w) = wanted {
        let needle = w.to_lowercase();
        return match infos
            .iter()
            .position(|i| i.name.to_lowercase().contains(&needle))
        {
            Some(i) => Ok((i, format!("its name contains SPLAT_ADAPTER={w:?}"))),
            None => {
                let names: Vec<String> = infos
                    .iter()
                    .map(|i| format!("'{}' ({:?})", i.name, i.backend))
                    .collect();
                Err(GpuError::NoAdapter(format!(
                    "SPLAT_ADAPTER={w:?} matches none of the adapters found: {}",
                    names.join(", ")
                )))
            }
        };
    }
    let best = (0..infos.len())
        .min_by_key(|&i| (type_rank(infos[i].device_type), i))
        .unwrap_or(0);
    Ok((
        best,
        format!(
            "the most capable type found ({:?}); set SPLAT_ADAPTER to override",
            infos[best].device_type
        ),
    ))
}

fn adapter_filter() -> Option<String> {
    std::env::var("SPLAT_ADAPTER")
        .ok()
        .filter(|s| !s.trim().is_empty())
}

/// Every adapter wgpu can see, with the one `GpuContext::new` would pick marked.
pub fn list_adapters() -> Result<Vec<AdapterSummary>, GpuError> {
    let inst = instance();
    let adapters = pollster::block_on(inst.enumerate_adapters(wgpu::Backends::PRIMARY));
    let infos: Vec<_> = adapters.iter().map(wgpu::Adapter::get_info).collect();
    let wanted = adapter_filter();
    let cands: Vec<Candidate> = infos.iter().map(Candidate::from).collect();
    let choice = choose(&cands, wanted.as_deref());
    Ok(adapters
        .iter()
        .zip(infos)
        .enumerate()
        .map(|(i, (a, info))| {
            let (selected, reason) = match &choice {
                Ok((c, why)) if *c == i => (true, why.clone()),
                Ok(_) => (false, "another adapter ranks higher".to_string()),
                Err(e) => (false, e.to_string()),
            };
            AdapterSummary {
                name: info.name,
                backend: info.backend,
                device_type: info.device_type,
                driver: info.driver,
                driver_info: info.driver_info,
                limits: a.limits(),
                selected,
                reason,
            }
        })
        .collect())
}

/// Device memory held through wgpu's allocator, in bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DeviceMemory {
    /// In live buffers (and textures).
    pub allocated: u64,
    /// In memory blocks taken from the driver: what the device has given this process.
    pub reserved: u64,
}

/// `SPLAT_GPU_MAX_BUFFER` (bytes): the largest buffer splat binds, below the device's own
/// limit: to leave room for other jobs sharing the GPU, or to rehearse a smaller one. Work
/// that needs more fails as it would on such a device.
pub const BUFFER_BUDGET_VAR: &str = "SPLAT_GPU_MAX_BUFFER";

fn budgeted(mut limits: wgpu::Limits) -> Result<wgpu::Limits, GpuError> {
    let Ok(v) = std::env::var(BUFFER_BUDGET_VAR) else {
        return Ok(limits);
    };
    let bytes: u64 = v.trim().parse().map_err(|_| {
        GpuError::NoAdapter(format!("{BUFFER_BUDGET_VAR}={v}: not a number of bytes"))
    })?;
    limits.max_storage_buffer_binding_size = limits.max_storage_buffer_binding_size.min(bytes);
    limits.max_buffer_size = limits.max_buffer_size.min(bytes);
    Ok(limits)
}

impl GpuContext {
    /// Opens the adapter chosen by the policy above with the adapter's full limits.
    pub fn new() -> Result<Self, GpuError> {
        let inst = instance();
        let mut adapters = pollster::block_on(inst.enumerate_adapters(wgpu::Backends::PRIMARY));
        let infos: Vec<_> = adapters.iter().map(wgpu::Adapter::get_info).collect();
        let cands: Vec<Candidate> = infos.iter().map(Candidate::from).collect();
        let (idx, _why) = choose(&cands, adapter_filter().as_deref())?;
        let adapter = adapters.swap_remove(idx);
        let info = infos[idx].clone();
        let limits = adapter.limits();
        // Subgroup operations when the adapter has them (kernels pick a variant by
        // `subgroups`); nothing else beyond core WebGPU.
        let features = adapter.features() & wgpu::Features::SUBGROUP;
        let (device, queue) = pollster::block_on(adapter.request_device(&wgpu::DeviceDescriptor {
            label: Some("splat"),
            required_features: features,
            required_limits: limits.clone(),
            experimental_features: wgpu::ExperimentalFeatures::disabled(),
            memory_hints: wgpu::MemoryHints::Performance,
            trace: wgpu::Trace::Off,
        }))
        .map_err(|source| GpuError::RequestDevice {
            adapter: info.name.clone(),
            source,
        })?;
        // wgpu's default for both is a panic (or a log line, for a lost device) while the
        // program carries on: record them instead, for `health` to turn into an error.
        let fault = Arc::new(Mutex::new(None));
        let (lost, name) = (Arc::clone(&fault), info.name.clone());
        device.set_device_lost_callback(move |reason, message| {
            record(
                &lost,
                GpuError::DeviceLost(format!("'{name}' ({reason:?}): {message}")),
            );
        });
        let (failed, name) = (Arc::clone(&fault), info.name.clone());
        device.on_uncaptured_error(Arc::new(move |e: wgpu::Error| {
            let e = match e {
                wgpu::Error::OutOfMemory { .. } => {
                    GpuError::OutOfMemory(format!("on '{name}', in submitted work: {e}"))
                }
                e => GpuError::Device(format!("on '{name}', in submitted work: {e}")),
            };
            record(&failed, e);
        }));
        Ok(Self {
            adapter,
            device,
            queue,
            info,
            limits: budgeted(limits)?,
            fault,
        })
    }

    /// Whether this is a CPU device (lavapipe): work that has a CPU version of its own (PLAS)
    /// runs faster there than through it.
    pub fn is_cpu(&self) -> bool {
        self.info.device_type == wgpu::DeviceType::Cpu
    }

    /// `Err` once the device is lost or work submitted to it has failed: everything it holds
    /// or computes from then on is garbage. Callers check it before trusting results (a
    /// training step, a readback).
    pub fn health(&self) -> Result<(), GpuError> {
        // Let wgpu deliver what has happened so far (a lost device is reported while polling).
        let _ = self.device.poll(wgpu::PollType::Poll);
        match self.fault.lock() {
            Ok(f) => f.as_ref().map_or(Ok(()), |e| Err(e.clone())),
            Err(_) => Err(GpuError::Device("a GPU error handler panicked".into())),
        }
    }

    /// Runs `f` with wgpu's out-of-memory and validation errors captured, so that a buffer too
    /// large for the device or an exhausted GPU becomes an error instead of wgpu's default
    /// panic. Scopes are per thread; `f` must not hand work to other threads.
    pub fn checked<T>(
        &self,
        what: &str,
        f: impl FnOnce() -> Result<T, GpuError>,
    ) -> Result<T, GpuError> {
        let oom = self.device.push_error_scope(wgpu::ErrorFilter::OutOfMemory);
        let validation = self.device.push_error_scope(wgpu::ErrorFilter::Validation);
        let result = f();
        let validation = pollster::block_on(validation.pop());
        let oom = pollster::block_on(oom.pop());
        if let Some(e) = oom {
            return Err(GpuError::OutOfMemory(format!(
                "{what} on '{}': {e}",
                self.info.name
            )));
        }
        if let Some(e) = validation {
            return Err(GpuError::Device(format!(
                "{what} on '{}': {e}",
                self.info.name
            )));
        }
        result
    }

    /// The subgroup size range when the device has subgroup operations enabled, else `None`.
    pub fn subgroups(&self) -> Option<(u32, u32)> {
        self.device
            .features()
            .contains(wgpu::Features::SUBGROUP)
            .then_some((self.info.subgroup_min_size, self.info.subgroup_max_size))
    }

    /// Blocks until all submitted work is done.
    pub fn wait(&self) -> Result<(), GpuError> {
        let polled = self
            .device
            .poll(wgpu::PollType::wait_indefinitely())
            .map(|_| ())
            .map_err(|e| GpuError::Device(e.to_string()));
        self.health()?;
        polled
    }

    /// Device memory wgpu's allocator holds for this device right now, or `None` where the
    /// backend keeps no report (wgpu's Vulkan and DX12 backends do).
    pub fn device_memory(&self) -> Option<DeviceMemory> {
        self.device
            .generate_allocator_report()
            .map(|r| DeviceMemory {
                allocated: r.total_allocated_bytes,
                reserved: r.total_reserved_bytes,
            })
    }

    /// Largest dispatch per dimension.
    pub fn max_groups_per_dim(&self) -> u32 {
        self.limits.max_compute_workgroups_per_dimension
    }

    /// Records one dispatch of `groups` workgroups (split over x/y when above the limit) in its own pass.
    pub fn dispatch(
        &self,
        encoder: &mut wgpu::CommandEncoder,
        pipeline: &wgpu::ComputePipeline,
        bind: &wgpu::BindGroup,
        groups: u32,
    ) {
        if groups == 0 {
            return;
        }
        let (x, y) = crate::dispatch_size(groups, self.max_groups_per_dim());
        self.dispatch_grid(encoder, pipeline, bind, x, y);
    }

    /// Records one dispatch of an `x`×`y` grid of workgroups (e.g. one per image tile) in its own pass.
    pub fn dispatch_grid(
        &self,
        encoder: &mut wgpu::CommandEncoder,
        pipeline: &wgpu::ComputePipeline,
        bind: &wgpu::BindGroup,
        x: u32,
        y: u32,
    ) {
        if x == 0 || y == 0 {
            return;
        }
        let mut pass = encoder.begin_compute_pass(&wgpu::ComputePassDescriptor {
            label: None,
            timestamp_writes: None,
        });
        pass.set_pipeline(pipeline);
        pass.set_bind_group(0, bind, &[]);
        pass.dispatch_workgroups(x, y, 1);
    }

    pub fn encoder(&self, label: &str) -> wgpu::CommandEncoder {
        self.device
            .create_command_encoder(&wgpu::CommandEncoderDescriptor { label: Some(label) })
    }

    /// Largest storage buffer binding this device accepts.
    pub fn max_binding(&self) -> u64 {
        self.limits
            .max_storage_buffer_binding_size
            .min(self.limits.max_buffer_size)
    }

    /// `Err(TooLarge)` naming `what` when `bytes` exceed one buffer binding of this device.
    pub fn check_binding(&self, what: &'static str, bytes: u64) -> Result<(), GpuError> {
        let limit = self.max_binding();
        if bytes > limit {
            return Err(GpuError::TooLarge {
                what,
                needed: bytes,
                limit,
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(name: &str, t: wgpu::DeviceType) -> Candidate {
        Candidate {
            name: name.into(),
            device_type: t,
            backend: wgpu::Backend::Vulkan,
        }
    }

    #[test]
    fn prefers_discrete_then_integrated_then_cpu() {
        let infos = vec![
            info("llvmpipe", wgpu::DeviceType::Cpu),
            info("Intel UHD", wgpu::DeviceType::IntegratedGpu),
            info("NVIDIA H100", wgpu::DeviceType::DiscreteGpu),
        ];
        assert_eq!(choose(&infos, None).unwrap().0, 2);
        assert_eq!(choose(&infos[..2], None).unwrap().0, 1);
        assert_eq!(choose(&infos[..1], None).unwrap().0, 0);
    }

    #[test]
    fn splat_adapter_picks_by_substring_and_lists_when_missing() {
        let infos = vec![
            info("llvmpipe (LLVM 15)", wgpu::DeviceType::Cpu),
            info("NVIDIA H100", wgpu::DeviceType::DiscreteGpu),
        ];
        assert_eq!(choose(&infos, Some("LLVM")).unwrap().0, 0);
        let err = choose(&infos, Some("radeon")).unwrap_err().to_string();
        assert!(
            err.contains("llvmpipe") && err.contains("NVIDIA H100"),
            "{err}"
        );
        let none = choose(&[], None).unwrap_err().to_string();
        assert!(none.contains("mesa-vulkan-drivers"), "{none}");
    }
}
