//! Typed compute kernels. A [`ShaderSource`] is WGSL composed from parts (a crate's shared
//! preamble, then its kernels) after constants generated from Rust, so that a constant such as
//! the tile size has one source; naga (the WGSL front end wgpu itself uses) reflects the module,
//! so that each `#[repr(C)]` parameter struct is checked against the shader's struct of the same
//! name, member by member, and a [`Kernel`] binds its buffers by the shader's variable names
//! instead of by position. A mismatch is an error naming the kernel, found when the shader is
//! composed (every crate has a test that composes all of its shaders without a GPU), never a
//! silent GPU error.

use crate::{GpuContext, GpuError};
use std::borrow::Cow;

/// A constant the shader gets from Rust, written at the top of the composed WGSL.
#[derive(Debug, Clone)]
pub enum Constant {
    U32(&'static str, u32),
    I32(&'static str, i32),
    F32(&'static str, f32),
    F32Array(&'static str, Vec<f32>),
}

impl Constant {
    /// The WGSL declaration. An f32 is written as the exact decimal of its f64 widening, which
    /// WGSL's abstract-float literal holds exactly, so the shader sees the very same f32.
    fn declaration(&self) -> String {
        let float = |v: f32| format!("{:?}", f64::from(v));
        match self {
            Self::U32(name, v) => format!("const {name}: u32 = {v}u;\n"),
            Self::I32(name, v) => format!("const {name}: i32 = {v}i;\n"),
            Self::F32(name, v) => format!("const {name}: f32 = {};\n", float(*v)),
            Self::F32Array(name, vs) => format!(
                "const {name} = array<f32, {}>({});\n",
                vs.len(),
                vs.iter()
                    .map(|&v| format!("{}f", float(v)))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        }
    }
}

/// The Rust side of a struct the shader declares: its WGSL name, size and named fields (byte
/// offset and size each); padding fields may be left out. Made by [`wgsl_layout!`](crate::wgsl_layout).
#[derive(Debug, Clone)]
pub struct StructLayout {
    pub wgsl_name: &'static str,
    pub size: usize,
    pub fields: Vec<(&'static str, usize, usize)>,
}

/// The size of the field `f` selects; used by [`wgsl_layout!`](crate::wgsl_layout).
pub fn field_size<T, F>(_select: fn(&T) -> &F) -> usize {
    std::mem::size_of::<F>()
}

/// `wgsl_layout!(RustType as "WgslName" { field, … })`: the [`StructLayout`] of a `#[repr(C)]`
/// struct whose listed fields must match the WGSL struct's members of the same names.
#[macro_export]
macro_rules! wgsl_layout {
    ($ty:ty as $name:literal { $($field:ident),* $(,)? }) => {
        $crate::StructLayout {
            wgsl_name: $name,
            size: ::std::mem::size_of::<$ty>(),
            fields: vec![$((
                stringify!($field),
                ::std::mem::offset_of!($ty, $field),
                $crate::kernel::field_size(|s: &$ty| &s.$field),
            )),*],
        }
    };
}

/// How to build one shader module: its parts in order, the constants it takes from Rust and the
/// Rust structs it shares.
#[derive(Debug, Clone)]
pub struct ShaderSource {
    pub label: &'static str,
    pub parts: Vec<&'static str>,
    pub constants: Vec<Constant>,
    pub layouts: Vec<StructLayout>,
}

/// A composed, parsed and validated shader module whose shared structs match their Rust sides.
pub struct Shader {
    label: &'static str,
    text: String,
    module: naga::Module,
    info: naga::valid::ModuleInfo,
}

fn kernel_error(kernel: &str, why: impl Into<String>) -> GpuError {
    GpuError::Kernel {
        kernel: kernel.to_string(),
        why: why.into(),
    }
}

impl Shader {
    /// Composes `source`, parses and validates it with naga and checks every shared struct.
    /// Needs no GPU.
    pub fn compose(source: &ShaderSource) -> Result<Self, GpuError> {
        let mut text: String = source.constants.iter().map(Constant::declaration).collect();
        for part in &source.parts {
            text.push_str(part);
        }
        let module = naga::front::wgsl::parse_str(&text)
            .map_err(|e| kernel_error(source.label, e.emit_to_string(&text)))?;
        let info = naga::valid::Validator::new(
            naga::valid::ValidationFlags::all(),
            naga::valid::Capabilities::all(),
        )
        .validate(&module)
        .map_err(|e| kernel_error(source.label, e.emit_to_string(&text)))?;
        let shader = Self {
            label: source.label,
            text,
            module,
            info,
        };
        for layout in &source.layouts {
            shader.check_layout(layout)?;
        }
        Ok(shader)
    }

    /// Checks that the WGSL struct `layout` names has its size and, for every listed field, a
    /// member of that name at the same offset with the same size.
    pub fn check_layout(&self, layout: &StructLayout) -> Result<(), GpuError> {
        let fail = |why: String| kernel_error(self.label, why);
        let (members, span) = self
            .module
            .types
            .iter()
            .find_map(|(_, ty)| match (&ty.name, &ty.inner) {
                (Some(n), naga::TypeInner::Struct { members, span }) if n == layout.wgsl_name => {
                    Some((members, *span))
                }
                _ => None,
            })
            .ok_or_else(|| fail(format!("declares no struct `{}`", layout.wgsl_name)))?;
        if span as usize != layout.size {
            return Err(fail(format!(
                "struct `{}` is {span} bytes in WGSL but {} in Rust",
                layout.wgsl_name, layout.size
            )));
        }
        for &(field, offset, size) in &layout.fields {
            let member = members
                .iter()
                .find(|m| m.name.as_deref() == Some(field))
                .ok_or_else(|| {
                    fail(format!(
                        "struct `{}` has no member `{field}`",
                        layout.wgsl_name
                    ))
                })?;
            let wgsl_size = self.module.types[member.ty]
                .inner
                .size(self.module.to_ctx()) as usize;
            if member.offset as usize != offset || wgsl_size != size {
                return Err(fail(format!(
                    "`{}.{field}` is {wgsl_size} bytes at offset {} in WGSL but {size} bytes at offset {offset} in Rust",
                    layout.wgsl_name, member.offset
                )));
            }
        }
        Ok(())
    }

    /// The bindings (group 0) entry point `entry` uses, by variable name; an error when there is
    /// no such compute entry point.
    pub fn bindings(&self, entry: &str) -> Result<Vec<(String, u32)>, GpuError> {
        let index = self
            .module
            .entry_points
            .iter()
            .position(|e| e.name == entry && e.stage == naga::ShaderStage::Compute)
            .ok_or_else(|| {
                kernel_error(self.label, format!("has no compute entry point `{entry}`"))
            })?;
        let uses = self.info.get_entry_point(index);
        let mut out = Vec::new();
        for (handle, var) in self.module.global_variables.iter() {
            let Some(binding) = &var.binding else {
                continue;
            };
            if uses[handle].is_empty() {
                continue;
            }
            if binding.group != 0 {
                return Err(kernel_error(
                    self.label,
                    format!(
                        "`{entry}` uses bind group {}; kernels use group 0 only",
                        binding.group
                    ),
                ));
            }
            let name = var.name.clone().ok_or_else(|| {
                kernel_error(
                    self.label,
                    format!("binding {} has no name", binding.binding),
                )
            })?;
            out.push((name, binding.binding));
        }
        Ok(out)
    }

    /// `@workgroup_size` of the compute entry point `entry`, constants evaluated.
    pub fn workgroup_size(&self, entry: &str) -> Result<[u32; 3], GpuError> {
        self.module
            .entry_points
            .iter()
            .find(|e| e.name == entry && e.stage == naga::ShaderStage::Compute)
            .map(|e| e.workgroup_size)
            .ok_or_else(|| {
                kernel_error(self.label, format!("has no compute entry point `{entry}`"))
            })
    }

    /// Compiles the entry point `entry` into a kernel.
    pub fn kernel(&self, ctx: &GpuContext, entry: &str) -> Result<Kernel, GpuError> {
        let bindings = self.bindings(entry)?;
        let workgroup = self.workgroup_size(entry)?;
        let name = format!("{}::{entry}", self.label);
        let module = ctx
            .device
            .create_shader_module(wgpu::ShaderModuleDescriptor {
                label: Some(&name),
                source: wgpu::ShaderSource::Wgsl(Cow::Borrowed(&self.text)),
            });
        let pipeline = ctx
            .device
            .create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
                label: Some(&name),
                layout: None,
                module: &module,
                entry_point: Some(entry),
                compilation_options: Default::default(),
                cache: None,
            });
        Ok(Kernel {
            name,
            layout: pipeline.get_bind_group_layout(0),
            pipeline,
            bindings,
            workgroup,
        })
    }
}

/// One compiled compute entry point and the bindings it uses, by name.
pub struct Kernel {
    name: String,
    pipeline: wgpu::ComputePipeline,
    /// The pipeline's (derived) layout of group 0, taken once rather than at every bind.
    layout: wgpu::BindGroupLayout,
    bindings: Vec<(String, u32)>,
    /// `@workgroup_size` as the shader declares it.
    workgroup: [u32; 3],
}

impl Kernel {
    /// Records one dispatch of `groups` workgroups (see [`GpuContext::dispatch`]).
    pub fn dispatch(
        &self,
        ctx: &GpuContext,
        encoder: &mut wgpu::CommandEncoder,
        bind: &wgpu::BindGroup,
        groups: u32,
    ) {
        ctx.dispatch(encoder, &self.pipeline, bind, groups);
    }

    /// The invocations one workgroup runs, from the shader's `@workgroup_size`.
    pub fn workgroup_invocations(&self) -> u32 {
        self.workgroup.iter().product()
    }

    /// Records one dispatch of enough workgroups for `items` invocations (one per item), so
    /// that the host never restates the shader's workgroup size.
    pub fn dispatch_items(
        &self,
        ctx: &GpuContext,
        encoder: &mut wgpu::CommandEncoder,
        bind: &wgpu::BindGroup,
        items: u32,
    ) {
        let groups = items.div_ceil(self.workgroup_invocations().max(1));
        ctx.dispatch(encoder, &self.pipeline, bind, groups);
    }

    /// Records one dispatch of an `x`×`y` grid of workgroups (see [`GpuContext::dispatch_grid`]).
    pub fn dispatch_grid(
        &self,
        ctx: &GpuContext,
        encoder: &mut wgpu::CommandEncoder,
        bind: &wgpu::BindGroup,
        x: u32,
        y: u32,
    ) {
        ctx.dispatch_grid(encoder, &self.pipeline, bind, x, y);
    }

    /// A bind group with each buffer at the binding the shader names so. Every binding the
    /// kernel uses must be given, and no other: a mismatch is a programming error and panics
    /// with the kernel's name (the GPU tests run every bind site).
    #[allow(
        clippy::panic,
        reason = "binding names are the program's, never a user's; a wrong one is a bug the GPU tests find"
    )]
    pub fn bind(&self, ctx: &GpuContext, buffers: &[(&str, &wgpu::Buffer)]) -> wgpu::BindGroup {
        let slots = match resolve(&self.name, &self.bindings, buffers.iter().map(|(n, _)| *n)) {
            Ok(slots) => slots,
            Err(e) => panic!("{e}"),
        };
        let entries: Vec<wgpu::BindGroupEntry> = buffers
            .iter()
            .zip(slots)
            .map(|((_, buffer), binding)| wgpu::BindGroupEntry {
                binding,
                resource: buffer.as_entire_binding(),
            })
            .collect();
        ctx.device.create_bind_group(&wgpu::BindGroupDescriptor {
            label: Some(&self.name),
            layout: &self.layout,
            entries: &entries,
        })
    }
}

/// The binding number of each of `names` in `bindings` (a kernel's), refusing a name the kernel
/// does not use, a name given twice and a binding left without one.
fn resolve<'n>(
    kernel: &str,
    bindings: &[(String, u32)],
    names: impl IntoIterator<Item = &'n str>,
) -> Result<Vec<u32>, GpuError> {
    let mut slots = Vec::with_capacity(bindings.len());
    for name in names {
        let (_, slot) = bindings
            .iter()
            .find(|(n, _)| n == name)
            .ok_or_else(|| kernel_error(kernel, format!("uses no binding named `{name}`")))?;
        if slots.contains(slot) {
            return Err(kernel_error(kernel, format!("`{name}` is bound twice")));
        }
        slots.push(*slot);
    }
    if let Some((missing, _)) = bindings.iter().find(|(_, b)| !slots.contains(b)) {
        return Err(kernel_error(
            kernel,
            format!("binding `{missing}` is not given a buffer"),
        ));
    }
    Ok(slots)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SHADER: &str = "
struct Params { n: u32, scale: f32, offset: vec2<f32> }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(3) var<storage, read_write> data: array<f32>;
@group(0) @binding(5) var<storage, read> unused_here: array<f32>;
@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) id: vec3<u32>) {
    if id.x < p.n { data[id.x] = data[id.x] * p.scale * K[1] + p.offset.x; }
}
";

    #[repr(C)]
    #[allow(dead_code)]
    struct Params {
        n: u32,
        scale: f32,
        offset: [f32; 2],
    }

    #[repr(C)]
    #[allow(dead_code)]
    struct Swapped {
        scale: f32,
        n: u32,
        offset: [f32; 2],
    }

    fn source(layouts: Vec<StructLayout>) -> ShaderSource {
        ShaderSource {
            label: "test",
            parts: vec![SHADER],
            constants: vec![
                Constant::U32("WG", 64),
                Constant::F32Array("K", vec![0.1, 1.0 / 3.0]),
            ],
            layouts,
        }
    }

    #[test]
    fn reflection_finds_the_bindings_an_entry_point_uses() {
        let shader = Shader::compose(&source(vec![
            wgsl_layout!(Params as "Params" { n, scale, offset }),
        ]))
        .expect("composes");
        assert_eq!(
            shader.bindings("main").expect("entry"),
            vec![("p".to_string(), 0), ("data".to_string(), 3)]
        );
        assert!(shader.bindings("nope").is_err());
        // The workgroup size comes from the generated constant WG.
        assert_eq!(shader.workgroup_size("main").expect("entry"), [64, 1, 1]);
    }

    #[test]
    fn a_struct_that_differs_from_its_shader_is_an_error_naming_the_kernel() {
        let e = Shader::compose(&source(vec![
            wgsl_layout!(Swapped as "Params" { scale, n, offset }),
        ]))
        .err()
        .expect("refused");
        let text = e.to_string();
        assert!(
            text.contains("test") && text.contains("Params.scale"),
            "{text}"
        );
        let e = Shader::compose(&source(vec![wgsl_layout!(Params as "Missing" { n })]))
            .err()
            .expect("refused");
        assert!(e.to_string().contains("no struct `Missing`"), "{e}");
    }

    #[test]
    fn binding_by_name_refuses_unknown_repeated_and_missing_names() {
        let bindings = [("p".to_string(), 0), ("data".to_string(), 3)];
        assert_eq!(
            resolve("k", &bindings, ["data", "p"]).expect("exact set"),
            [3, 0]
        );
        for (names, says) in [
            (vec!["p", "data", "extra"], "no binding named `extra`"),
            (vec!["p", "p", "data"], "`p` is bound twice"),
            (vec!["p"], "`data` is not given a buffer"),
        ] {
            let e = resolve("k", &bindings, names)
                .expect_err("refused")
                .to_string();
            assert!(e.contains("`k`") && e.contains(says), "{e}");
        }
    }

    #[test]
    fn generated_f32_constants_are_the_rust_values_exactly() {
        for v in [
            1.0f32 / 255.0,
            0.3,
            0.99,
            1e-4,
            0.282_094_8,
            -0.590_043_6,
            f32::MIN_POSITIVE,
        ] {
            let decl = Constant::F32("X", v).declaration();
            let literal = decl
                .trim_start_matches("const X: f32 = ")
                .trim_end_matches(";\n");
            let parsed: f64 = literal.parse().expect("a decimal");
            assert_eq!(parsed as f32, v, "{decl}");
            assert_eq!(f64::from(v), parsed, "exact in f64: {decl}");
        }
    }
}
