//! The Inria 3DGS PLY: one `vertex` element of float properties (`x y z`, `f_dc_*`, `f_rest_*`,
//! `opacity`, `scale_*`, `rot_*`).
//!
//! Written by hand rather than with `ply-rs`: that crate stores every vertex as a map from
//! property name to a boxed value, which for millions of Gaussians costs an order of magnitude
//! in memory and time, and its errors carry no byte offset or line. This reader takes binary
//! (either endianness) and ascii files, properties in any order, extra properties and elements,
//! and names the file and the place of any problem.

use crate::bytes::ByteReader;
use crate::{Result, SceneError, write_atomic};
use std::path::Path;

/// A set of 3D Gaussians as the PLY stores them.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct GaussianCloud {
    /// Spherical-harmonics degree, 0–3.
    pub sh_degree: u32,
    pub means: Vec<[f32; 3]>,
    /// SH DC coefficient per colour channel.
    pub sh_dc: Vec<[f32; 3]>,
    /// Higher-order SH, `3·K` per Gaussian (K = (degree+1)² − 1), channel-major: K red, K green, K blue.
    pub sh_rest: Vec<f32>,
    /// Opacity logit.
    pub opacity: Vec<f32>,
    /// Log standard deviations.
    pub log_scales: Vec<[f32; 3]>,
    /// Unnormalised quaternion (w, x, y, z).
    pub rotations: Vec<[f32; 4]>,
}

/// Higher-order SH coefficients per channel for a degree.
pub fn sh_rest_per_channel(degree: u32) -> usize {
    ((degree + 1) * (degree + 1) - 1) as usize
}

impl GaussianCloud {
    pub fn len(&self) -> usize {
        self.means.len()
    }

    pub fn is_empty(&self) -> bool {
        self.means.is_empty()
    }

    /// Checks that every attribute has one entry per Gaussian and every value is finite.
    pub fn validate(&self, path: &Path) -> Result<()> {
        let n = self.len();
        let k3 = 3 * sh_rest_per_channel(self.sh_degree);
        if self.sh_degree > 3 {
            return Err(SceneError::invalid(
                path,
                format!("SH degree {} is above 3", self.sh_degree),
            ));
        }
        if self.sh_dc.len() != n
            || self.opacity.len() != n
            || self.log_scales.len() != n
            || self.rotations.len() != n
            || self.sh_rest.len() != n * k3
        {
            return Err(SceneError::invalid(
                path,
                "attribute arrays have different lengths",
            ));
        }
        for i in 0..n {
            let rest = &self.sh_rest[i * k3..(i + 1) * k3];
            let finite = self.means[i]
                .iter()
                .chain(&self.sh_dc[i])
                .chain(rest)
                .chain([&self.opacity[i]])
                .chain(&self.log_scales[i])
                .chain(&self.rotations[i])
                .all(|v| v.is_finite());
            if !finite {
                return Err(SceneError::invalid(
                    path,
                    format!("Gaussian {i} has a NaN or infinite value"),
                ));
            }
        }
        Ok(())
    }

    /// Property names in the Inria order.
    pub fn property_names(&self) -> Vec<String> {
        let mut names: Vec<String> = [
            "x", "y", "z", "nx", "ny", "nz", "f_dc_0", "f_dc_1", "f_dc_2",
        ]
        .map(String::from)
        .to_vec();
        names.extend((0..3 * sh_rest_per_channel(self.sh_degree)).map(|i| format!("f_rest_{i}")));
        names.extend(
            [
                "opacity", "scale_0", "scale_1", "scale_2", "rot_0", "rot_1", "rot_2", "rot_3",
            ]
            .map(String::from),
        );
        names
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Format {
    Ascii,
    BinaryLe,
    BinaryBe,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Scalar {
    I8,
    U8,
    I16,
    U16,
    I32,
    U32,
    F32,
    F64,
}

impl Scalar {
    fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "char" | "int8" => Self::I8,
            "uchar" | "uint8" => Self::U8,
            "short" | "int16" => Self::I16,
            "ushort" | "uint16" => Self::U16,
            "int" | "int32" => Self::I32,
            "uint" | "uint32" => Self::U32,
            "float" | "float32" => Self::F32,
            "double" | "float64" => Self::F64,
            _ => return None,
        })
    }

    pub(crate) fn size(self) -> usize {
        match self {
            Self::I8 | Self::U8 => 1,
            Self::I16 | Self::U16 => 2,
            Self::I32 | Self::U32 | Self::F32 => 4,
            Self::F64 => 8,
        }
    }

    pub(crate) fn read(self, b: &[u8], big: bool) -> f64 {
        macro_rules! num {
            ($t:ty, $n:expr) => {{
                let mut a = [0u8; $n];
                a.copy_from_slice(&b[..$n]);
                f64::from(if big {
                    <$t>::from_be_bytes(a)
                } else {
                    <$t>::from_le_bytes(a)
                })
            }};
        }
        match self {
            Self::I8 => f64::from(b[0] as i8),
            Self::U8 => f64::from(b[0]),
            Self::I16 => num!(i16, 2),
            Self::U16 => num!(u16, 2),
            Self::I32 => num!(i32, 4),
            Self::U32 => num!(u32, 4),
            Self::F32 => num!(f32, 4),
            Self::F64 => num!(f64, 8),
        }
    }
}

#[derive(Debug, Clone)]
pub(crate) struct Property {
    pub(crate) name: String,
    pub(crate) ty: Scalar,
    /// For list properties, the type of the length prefix.
    pub(crate) list_len: Option<Scalar>,
}

#[derive(Debug, Clone)]
pub(crate) struct Element {
    pub(crate) name: String,
    pub(crate) count: usize,
    pub(crate) props: Vec<Property>,
}

pub(crate) struct Header {
    pub(crate) format: Format,
    pub(crate) elements: Vec<Element>,
    /// Byte offset of the data after `end_header\n`, and the number of header lines.
    pub(crate) data_start: usize,
    lines: usize,
}

pub(crate) fn parse_header(data: &[u8], path: &Path) -> Result<Header> {
    const END: &[u8] = b"end_header";
    let limit = data.len().min(1 << 20);
    let Some(end_at) = data[..limit].windows(END.len()).position(|w| w == END) else {
        return Err(SceneError::invalid(
            path,
            "not a PLY file: no 'end_header' line in the first MiB",
        ));
    };
    let mut data_start = end_at + END.len();
    while data_start < data.len() && data[data_start] != b'\n' {
        data_start += 1;
    }
    data_start += 1;
    let text = std::str::from_utf8(&data[..end_at])
        .map_err(|_| SceneError::invalid(path, "the PLY header is not ASCII text"))?;
    let mut format = None;
    let mut elements: Vec<Element> = Vec::new();
    let mut lines = 0;
    for (i, raw) in text.lines().enumerate() {
        lines = i + 2;
        let line = i + 1;
        let toks: Vec<&str> = raw.split_whitespace().collect();
        let err = |m: String| SceneError::text(path, line, m);
        match toks.first().copied() {
            None => {}
            Some("ply") if i == 0 => {}
            Some(_) if i == 0 => {
                return Err(err("not a PLY file: the first line is not 'ply'".into()));
            }
            Some("comment") | Some("obj_info") => {}
            Some("format") => {
                format = Some(match toks.get(1).copied() {
                    Some("ascii") => Format::Ascii,
                    Some("binary_little_endian") => Format::BinaryLe,
                    Some("binary_big_endian") => Format::BinaryBe,
                    other => return Err(err(format!("unknown PLY format {other:?}"))),
                });
            }
            Some("element") => {
                let (Some(name), Some(count)) = (toks.get(1), toks.get(2)) else {
                    return Err(err("expected 'element NAME COUNT'".into()));
                };
                let count = count
                    .parse()
                    .map_err(|_| err(format!("element count '{count}' is not a number")))?;
                elements.push(Element {
                    name: name.to_string(),
                    count,
                    props: Vec::new(),
                });
            }
            Some("property") => {
                let Some(el) = elements.last_mut() else {
                    return Err(err("a property before any element".into()));
                };
                let prop = if toks.get(1) == Some(&"list") {
                    let (Some(lt), Some(vt), Some(name)) = (toks.get(2), toks.get(3), toks.get(4))
                    else {
                        return Err(err("expected 'property list LEN_TYPE TYPE NAME'".into()));
                    };
                    let lt =
                        Scalar::parse(lt).ok_or_else(|| err(format!("unknown type '{lt}'")))?;
                    let vt =
                        Scalar::parse(vt).ok_or_else(|| err(format!("unknown type '{vt}'")))?;
                    Property {
                        name: name.to_string(),
                        ty: vt,
                        list_len: Some(lt),
                    }
                } else {
                    let (Some(ty), Some(name)) = (toks.get(1), toks.get(2)) else {
                        return Err(err("expected 'property TYPE NAME'".into()));
                    };
                    let ty =
                        Scalar::parse(ty).ok_or_else(|| err(format!("unknown type '{ty}'")))?;
                    Property {
                        name: name.to_string(),
                        ty,
                        list_len: None,
                    }
                };
                el.props.push(prop);
            }
            Some(other) => return Err(err(format!("unknown header keyword '{other}'"))),
        }
    }
    let format =
        format.ok_or_else(|| SceneError::invalid(path, "the PLY header has no 'format' line"))?;
    Ok(Header {
        format,
        elements,
        // A file that ends on `end_header` without its line break has no data at all.
        data_start: data_start.min(data.len()),
        lines,
    })
}

/// Where each Gaussian attribute lives among the vertex properties.
struct Layout {
    degree: u32,
    /// Property index for x y z, f_dc_0..2, f_rest_*, opacity, scale_0..2, rot_0..3.
    index: Vec<usize>,
}

fn layout(el: &Element, path: &Path) -> Result<Layout> {
    let find = |name: &str| el.props.iter().position(|p| p.name == name);
    let rest_count = el
        .props
        .iter()
        .filter(|p| p.name.starts_with("f_rest_"))
        .count();
    let degree = match rest_count {
        0 => 0,
        9 => 1,
        24 => 2,
        45 => 3,
        n => {
            return Err(SceneError::invalid(
                path,
                format!("{n} f_rest_* properties: expected 0, 9, 24 or 45 (SH degree 0-3)"),
            ));
        }
    };
    let mut names: Vec<String> = ["x", "y", "z", "f_dc_0", "f_dc_1", "f_dc_2"]
        .map(String::from)
        .to_vec();
    names.extend((0..rest_count).map(|i| format!("f_rest_{i}")));
    names.extend(
        [
            "opacity", "scale_0", "scale_1", "scale_2", "rot_0", "rot_1", "rot_2", "rot_3",
        ]
        .map(String::from),
    );
    let mut index = Vec::with_capacity(names.len());
    for n in &names {
        index.push(find(n).ok_or_else(|| SceneError::MissingProperty {
            path: path.to_path_buf(),
            name: n.clone(),
        })?);
    }
    if let Some(p) = el.props.iter().find(|p| p.list_len.is_some()) {
        return Err(SceneError::invalid(
            path,
            format!(
                "vertex property '{}' is a list; a 3DGS PLY has only scalar vertex properties",
                p.name
            ),
        ));
    }
    Ok(Layout { degree, index })
}

/// Reads a 3DGS PLY file.
pub fn read_ply(path: &Path) -> Result<GaussianCloud> {
    let data = std::fs::read(path).map_err(|e| SceneError::io(path, e))?;
    parse_ply(&data, path)
}

/// Parses 3DGS PLY bytes; `path` is used in error messages.
pub fn parse_ply(data: &[u8], path: &Path) -> Result<GaussianCloud> {
    let header = parse_header(data, path)?;
    let Some(vi) = header.elements.iter().position(|e| e.name == "vertex") else {
        return Err(SceneError::invalid(path, "no 'vertex' element"));
    };
    let el = &header.elements[vi];
    let lay = layout(el, path)?;
    let values = match header.format {
        Format::Ascii => read_ascii(data, path, &header, vi, &lay)?,
        Format::BinaryLe | Format::BinaryBe => read_binary(data, path, &header, vi, &lay)?,
    };
    let cloud = assemble(el.count, lay.degree, &values);
    cloud.validate(path)?;
    Ok(cloud)
}

/// Reads the wanted properties of the vertex element into a flat row-major f32 table.
fn read_binary(data: &[u8], path: &Path, h: &Header, vi: usize, lay: &Layout) -> Result<Vec<f32>> {
    let big = h.format == Format::BinaryBe;
    let mut r = ByteReader::with_offset(data, path, h.data_start, big);
    for el in &h.elements[..vi] {
        skip_binary_element(&mut r, el, big)?;
    }
    let el = &h.elements[vi];
    let offsets: Vec<usize> = el
        .props
        .iter()
        .scan(0, |o, p| {
            let here = *o;
            *o += p.ty.size();
            Some(here)
        })
        .collect();
    let stride: usize = el.props.iter().map(|p| p.ty.size()).sum();
    let need = el
        .count
        .checked_mul(stride)
        .ok_or_else(|| r.error("vertex count overflows"))?;
    if r.remaining() < need {
        let whole = r.remaining() / stride.max(1);
        return Err(r.error(format!(
            "expected {} vertices of {stride} bytes, but the file ends after {whole} whole vertices (at byte {})",
            el.count,
            r.pos() + whole * stride
        )));
    }
    let body = r.take(need, "vertex data")?;
    let mut out = Vec::with_capacity(el.count * lay.index.len());
    for row in body.chunks_exact(stride.max(1)).take(el.count) {
        for &pi in &lay.index {
            out.push(el.props[pi].ty.read(&row[offsets[pi]..], big) as f32);
        }
    }
    Ok(out)
}

fn skip_binary_element(r: &mut ByteReader<'_>, el: &Element, big: bool) -> Result<()> {
    if el.props.iter().all(|p| p.list_len.is_none()) {
        // Fixed-size rows are skipped at once: a huge count of empty rows must not spin.
        let stride: usize = el.props.iter().map(|p| p.ty.size()).sum();
        let need = el.count.checked_mul(stride).ok_or_else(|| {
            r.error(format!(
                "element '{}' count {} overflows",
                el.name, el.count
            ))
        })?;
        r.take(need, &format!("element '{}'", el.name))?;
        return Ok(());
    }
    // Each row holds a list length, so the loop ends by the file's end at the latest.
    for _ in 0..el.count {
        for p in &el.props {
            match p.list_len {
                None => {
                    r.take(
                        p.ty.size(),
                        &format!("property '{}' of element '{}'", p.name, el.name),
                    )?;
                }
                Some(lt) => {
                    let at = r.pos();
                    let len_bytes = r.take(lt.size(), &format!("list length of '{}'", p.name))?;
                    let len = lt.read(len_bytes, big);
                    if !(0.0..=1e9).contains(&len) {
                        return Err(r.error_at(at, format!("invalid list length {len}")));
                    }
                    r.take(
                        len as usize * p.ty.size(),
                        &format!("list '{}' of element '{}'", p.name, el.name),
                    )?;
                }
            }
        }
    }
    Ok(())
}

fn read_ascii(data: &[u8], path: &Path, h: &Header, vi: usize, lay: &Layout) -> Result<Vec<f32>> {
    let body = std::str::from_utf8(&data[h.data_start..]).map_err(|e| SceneError::Binary {
        path: path.to_path_buf(),
        offset: (h.data_start + e.valid_up_to()) as u64,
        message: "ascii PLY data is not text".into(),
    })?;
    let mut lines = body
        .lines()
        .enumerate()
        .map(|(i, l)| (h.lines + i, l))
        .filter(|(_, l)| !l.trim().is_empty());
    // A row of n values takes at least 2n - 1 bytes and a line break: the file's length bounds the rows it can hold,
    // and so what is allocated for them.
    let room = body.len().div_ceil(2);
    let skip = h.elements[..vi]
        .iter()
        .try_fold(0usize, |sum, e| sum.checked_add(e.count))
        .filter(|&n| n <= room)
        .ok_or_else(|| {
            SceneError::invalid(path, "ascii PLY declares more rows than the file holds")
        })?;
    for _ in 0..skip {
        if lines.next().is_none() {
            return Err(SceneError::invalid(
                path,
                "ascii PLY ends before the vertex element",
            ));
        }
    }
    let el = &h.elements[vi];
    let most = room / el.props.len().max(1);
    if el.count > most {
        return Err(SceneError::invalid(
            path,
            format!(
                "the header declares {} vertices of {} values, but the {} bytes of ascii data hold at most {most}",
                el.count,
                el.props.len(),
                body.len()
            ),
        ));
    }
    let mut out = Vec::with_capacity(el.count * lay.index.len());
    let mut row = Vec::with_capacity(el.props.len());
    for v in 0..el.count {
        let Some((line, text)) = lines.next() else {
            return Err(SceneError::text(
                path,
                h.lines + v,
                format!(
                    "expected vertex {v} of {}, found the end of the file",
                    el.count
                ),
            ));
        };
        row.clear();
        for tok in text.split_whitespace() {
            let x: f64 = tok.parse().map_err(|_| {
                SceneError::text(path, line, format!("expected a number, found '{tok}'"))
            })?;
            row.push(x);
        }
        if row.len() != el.props.len() {
            return Err(SceneError::text(
                path,
                line,
                format!(
                    "expected {} values for a vertex, found {}",
                    el.props.len(),
                    row.len()
                ),
            ));
        }
        out.extend(lay.index.iter().map(|&pi| row[pi] as f32));
    }
    Ok(out)
}

fn assemble(n: usize, degree: u32, v: &[f32]) -> GaussianCloud {
    let k3 = 3 * sh_rest_per_channel(degree);
    let w = 14 + k3;
    let mut c = GaussianCloud {
        sh_degree: degree,
        ..Default::default()
    };
    c.sh_rest.reserve(n * k3);
    for row in v.chunks_exact(w).take(n) {
        c.means.push([row[0], row[1], row[2]]);
        c.sh_dc.push([row[3], row[4], row[5]]);
        c.sh_rest.extend_from_slice(&row[6..6 + k3]);
        let t = &row[6 + k3..];
        c.opacity.push(t[0]);
        c.log_scales.push([t[1], t[2], t[3]]);
        c.rotations.push([t[4], t[5], t[6], t[7]]);
    }
    c
}

/// Writes the cloud as a binary little-endian PLY in the Inria layout, atomically.
pub fn write_ply(path: &Path, cloud: &GaussianCloud) -> Result<()> {
    cloud.validate(path)?;
    write_atomic(path, |w| write_ply_to(w, cloud))
}

/// The Inria PLY of `cloud` (binary little-endian, float properties), into `w`.
pub fn write_ply_to(w: &mut dyn std::io::Write, cloud: &GaussianCloud) -> std::io::Result<()> {
    let k3 = 3 * sh_rest_per_channel(cloud.sh_degree);
    writeln!(w, "ply")?;
    writeln!(w, "format binary_little_endian 1.0")?;
    writeln!(w, "element vertex {}", cloud.len())?;
    for name in cloud.property_names() {
        writeln!(w, "property float {name}")?;
    }
    writeln!(w, "end_header")?;
    let mut row: Vec<f32> = Vec::with_capacity(17 + k3);
    for i in 0..cloud.len() {
        row.clear();
        row.extend_from_slice(&cloud.means[i]);
        row.extend_from_slice(&[0.0; 3]);
        row.extend_from_slice(&cloud.sh_dc[i]);
        row.extend_from_slice(&cloud.sh_rest[i * k3..(i + 1) * k3]);
        row.push(cloud.opacity[i]);
        row.extend_from_slice(&cloud.log_scales[i]);
        row.extend_from_slice(&cloud.rotations[i]);
        for v in &row {
            w.write_all(&v.to_le_bytes())?;
        }
    }
    Ok(())
}
