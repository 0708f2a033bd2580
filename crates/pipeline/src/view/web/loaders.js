// Scene loaders for the splat viewer: an Inria 3DGS PLY or a PlayCanvas SOG v2 (a zip bundle or
// the unbundled meta.json + WebP planes) become one flat set of typed arrays:
//   count, degree (SH bands beyond DC), means (3n), logScales (3n), quats (4n, w x y z, raw),
//   opacity (n, after the sigmoid), dc (3n, SH DC coefficients), rest (n * 3 * K, per Gaussian
//   channel-major as in the PLY: rest[i*3K + c*K + j], K = (degree+1)^2 - 1).
// Errors are thrown as SceneError with a message naming the file and the problem.
'use strict';

class SceneError extends Error {}

const PLY_TYPES = {
  char: ['getInt8', 1], int8: ['getInt8', 1], uchar: ['getUint8', 1], uint8: ['getUint8', 1],
  short: ['getInt16', 2], int16: ['getInt16', 2], ushort: ['getUint16', 2], uint16: ['getUint16', 2],
  int: ['getInt32', 4], int32: ['getInt32', 4], uint: ['getUint32', 4], uint32: ['getUint32', 4],
  float: ['getFloat32', 4], float32: ['getFloat32', 4], double: ['getFloat64', 8], float64: ['getFloat64', 8],
};

function restPerChannel(degree) {
  return (degree + 1) * (degree + 1) - 1;
}

function emptyScene(count, degree) {
  const k = restPerChannel(degree);
  return {
    count, degree,
    means: new Float32Array(3 * count),
    logScales: new Float32Array(3 * count),
    quats: new Float32Array(4 * count),
    opacity: new Float32Array(count),
    dc: new Float32Array(3 * count),
    rest: new Float32Array(3 * k * count),
  };
}

function sigmoid(x) {
  return 1 / (1 + Math.exp(-x));
}

// A binary little-endian PLY with a `vertex` element in the Inria layout.
function parsePly(buffer, name) {
  const bytes = new Uint8Array(buffer);
  const headText = new TextDecoder('latin1').decode(bytes.subarray(0, Math.min(bytes.length, 65536)));
  const end = headText.indexOf('end_header\n');
  if (!headText.startsWith('ply\n') || end < 0) {
    throw new SceneError(`${name}: not a PLY file (no "ply" ... "end_header" header)`);
  }
  const lines = headText.slice(0, end).split('\n').map((l) => l.trim()).filter((l) => l.length);
  if (!lines.some((l) => l === 'format binary_little_endian 1.0')) {
    throw new SceneError(`${name}: only binary_little_endian PLY is supported`);
  }
  const elements = [];
  for (const l of lines) {
    const w = l.split(/\s+/);
    if (w[0] === 'element') {
      elements.push({ name: w[1], count: Number(w[2]), props: [], stride: 0 });
    } else if (w[0] === 'property') {
      const el = elements[elements.length - 1];
      if (!el) throw new SceneError(`${name}: property before any element`);
      if (w[1] === 'list') throw new SceneError(`${name}: list properties are not supported (element ${el.name})`);
      const t = PLY_TYPES[w[1]];
      if (!t) throw new SceneError(`${name}: unknown property type ${w[1]}`);
      el.props.push({ name: w[2], get: t[0], offset: el.stride });
      el.stride += t[1];
    }
  }
  let offset = end + 'end_header\n'.length;
  let vertex = null;
  for (const el of elements) {
    if (!Number.isInteger(el.count) || el.count < 0) throw new SceneError(`${name}: bad count for element ${el.name}`);
    if (el.name === 'vertex') { vertex = el; break; }
    offset += el.count * el.stride;
  }
  if (!vertex) throw new SceneError(`${name}: no vertex element`);
  const n = vertex.count;
  if (offset + n * vertex.stride > bytes.length) {
    throw new SceneError(`${name}: truncated: ${n} vertices need ${offset + n * vertex.stride} bytes, the file has ${bytes.length}`);
  }
  const byName = new Map(vertex.props.map((p) => [p.name, p]));
  const need = ['x', 'y', 'z', 'opacity', 'scale_0', 'scale_1', 'scale_2', 'rot_0', 'rot_1', 'rot_2', 'rot_3', 'f_dc_0', 'f_dc_1', 'f_dc_2'];
  const missing = need.filter((p) => !byName.has(p));
  if (missing.length) throw new SceneError(`${name}: not a 3DGS PLY: missing ${missing.join(', ')}`);
  let restCount = 0;
  while (byName.has(`f_rest_${restCount}`)) restCount++;
  let degree = 0;
  while (degree < 3 && 3 * restPerChannel(degree + 1) <= restCount) degree++;
  if (3 * restPerChannel(degree) !== restCount) {
    throw new SceneError(`${name}: ${restCount} f_rest properties is not 3 x ((d+1)^2 - 1) for any degree d <= 3`);
  }
  const k = restPerChannel(degree);
  const s = emptyScene(n, degree);
  const view = new DataView(buffer, bytes.byteOffset);
  const col = (p) => { const q = byName.get(p); return [q.get, q.offset]; };
  const fields = [
    [s.means, 3, ['x', 'y', 'z']],
    [s.logScales, 3, ['scale_0', 'scale_1', 'scale_2']],
    [s.quats, 4, ['rot_0', 'rot_1', 'rot_2', 'rot_3']],
    [s.dc, 3, ['f_dc_0', 'f_dc_1', 'f_dc_2']],
  ].map(([arr, w, names]) => [arr, w, names.map(col)]);
  const op = col('opacity');
  const rest = Array.from({ length: 3 * k }, (_, j) => col(`f_rest_${j}`));
  for (let i = 0; i < n; i++) {
    const base = offset + i * vertex.stride;
    for (const [arr, w, cols] of fields) {
      for (let a = 0; a < w; a++) arr[w * i + a] = view[cols[a][0]](base + cols[a][1], true);
    }
    s.opacity[i] = sigmoid(view[op[0]](base + op[1], true));
    for (let j = 0; j < 3 * k; j++) s.rest[3 * k * i + j] = view[rest[j][0]](base + rest[j][1], true);
  }
  return s;
}

// The entries of a zip archive (STORE or DEFLATE), by name.
async function unzip(buffer, name) {
  const bytes = new Uint8Array(buffer);
  const dv = new DataView(buffer, bytes.byteOffset);
  let eocd = -1;
  for (let i = bytes.length - 22; i >= Math.max(0, bytes.length - 22 - 65535); i--) {
    if (dv.getUint32(i, true) === 0x06054b50) { eocd = i; break; }
  }
  if (eocd < 0) throw new SceneError(`${name}: not a zip archive (no end of central directory)`);
  const entries = dv.getUint16(eocd + 10, true);
  let p = dv.getUint32(eocd + 16, true);
  const out = new Map();
  for (let e = 0; e < entries; e++) {
    if (p + 46 > bytes.length || dv.getUint32(p, true) !== 0x02014b50) throw new SceneError(`${name}: damaged zip central directory`);
    const method = dv.getUint16(p + 10, true);
    const csize = dv.getUint32(p + 20, true);
    const nlen = dv.getUint16(p + 28, true);
    const xlen = dv.getUint16(p + 30, true);
    const clen = dv.getUint16(p + 32, true);
    const local = dv.getUint32(p + 42, true);
    const fname = new TextDecoder().decode(bytes.subarray(p + 46, p + 46 + nlen));
    p += 46 + nlen + xlen + clen;
    if (local + 30 > bytes.length || dv.getUint32(local, true) !== 0x04034b50) throw new SceneError(`${name}: damaged zip entry ${fname}`);
    const start = local + 30 + dv.getUint16(local + 26, true) + dv.getUint16(local + 28, true);
    if (start + csize > bytes.length) throw new SceneError(`${name}: zip entry ${fname} is truncated`);
    const data = bytes.slice(start, start + csize);
    if (method === 0) {
      out.set(fname, data);
    } else if (method === 8) {
      const stream = new Blob([data]).stream().pipeThrough(new DecompressionStream('deflate-raw'));
      out.set(fname, new Uint8Array(await new Response(stream).arrayBuffer()));
    } else {
      throw new SceneError(`${name}: zip entry ${fname} uses compression method ${method}`);
    }
  }
  return out;
}

// RGBA bytes of a WebP (or PNG) image, exactly as stored: decoded by the browser without colour
// management or premultiplication, read back through a WebGL texture.
async function decodeImage(gl, bytes, fname) {
  let bitmap;
  try {
    bitmap = await createImageBitmap(new Blob([bytes], { type: 'image/webp' }), {
      premultiplyAlpha: 'none', colorSpaceConversion: 'none',
    });
  } catch (e) {
    throw new SceneError(`${fname}: the browser cannot decode this image (${e.message})`);
  }
  const { width, height } = bitmap;
  const tex = gl.createTexture();
  gl.bindTexture(gl.TEXTURE_2D, tex);
  gl.pixelStorei(gl.UNPACK_PREMULTIPLY_ALPHA_WEBGL, false);
  gl.pixelStorei(gl.UNPACK_COLORSPACE_CONVERSION_WEBGL, gl.NONE);
  gl.pixelStorei(gl.UNPACK_FLIP_Y_WEBGL, false);
  gl.texImage2D(gl.TEXTURE_2D, 0, gl.RGBA8, gl.RGBA, gl.UNSIGNED_BYTE, bitmap);
  const fb = gl.createFramebuffer();
  gl.bindFramebuffer(gl.FRAMEBUFFER, fb);
  gl.framebufferTexture2D(gl.FRAMEBUFFER, gl.COLOR_ATTACHMENT0, gl.TEXTURE_2D, tex, 0);
  const rgba = new Uint8Array(width * height * 4);
  gl.readPixels(0, 0, width, height, gl.RGBA, gl.UNSIGNED_BYTE, rgba);
  gl.bindFramebuffer(gl.FRAMEBUFFER, null);
  gl.deleteFramebuffer(fb);
  gl.deleteTexture(tex);
  bitmap.close();
  return { width, height, rgba };
}

function invLog(v) {
  return Math.sign(v) * (Math.exp(Math.abs(v)) - 1);
}

function logit(a) {
  const x = Math.min(Math.max(a, 1e-6), 1 - 1e-6);
  return Math.log(x / (1 - x));
}

// A SOG v2 scene from its meta.json and a function that returns a file's bytes by name.
async function parseSog(gl, meta, readFile, name) {
  if (meta.version !== 2) {
    throw new SceneError(`${name}: SOG version ${meta.version}; the viewer reads version 2 (convert with \`splat decompress\` then \`splat compress\`)`);
  }
  const n = meta.count;
  if (!Number.isInteger(n) || n < 0) throw new SceneError(`${name}: meta.json: bad count`);
  const image = async (files, i, what) => {
    const f = files && files[i];
    if (!f) throw new SceneError(`${name}: meta.json: ${what} lists no file ${i}`);
    const img = await decodeImage(gl, await readFile(f), `${name}: ${f}`);
    return img;
  };
  const perGaussian = async (files, i, what) => {
    const img = await image(files, i, what);
    if (img.width * img.height < n) throw new SceneError(`${name}: ${files[i]} (${what}) is ${img.width}x${img.height}, too small for ${n} Gaussians`);
    return img.rgba;
  };
  const book = (entries, what) => {
    if (!Array.isArray(entries) || entries.length !== 256) throw new SceneError(`${name}: meta.json: ${what} codebook has ${entries && entries.length} entries, not 256`);
    return entries.map((v) => (v === null ? 0 : v));
  };
  const lo = await perGaussian(meta.means.files, 0, 'means');
  const hi = await perGaussian(meta.means.files, 1, 'means');
  const qs = await perGaussian(meta.quats.files, 0, 'quats');
  const sc = await perGaussian(meta.scales.files, 0, 'scales');
  const s0 = await perGaussian(meta.sh0.files, 0, 'sh0');
  const scaleBook = book(meta.scales.codebook, 'scales');
  const dcBook = book(meta.sh0.codebook, 'sh0');
  const bands = meta.shN ? meta.shN.bands : 0;
  if (!(bands >= 0 && bands <= 3)) throw new SceneError(`${name}: meta.json: shN.bands is ${bands}, not 1-3`);
  const s = emptyScene(n, bands);
  const { mins, maxs } = meta.means;
  for (let t = 0; t < n; t++) {
    const o = 4 * t;
    for (let a = 0; a < 3; a++) {
      const q = (hi[o + a] << 8) | lo[o + a];
      const span = maxs[a] - mins[a] || 1;
      s.means[3 * t + a] = invLog(mins[a] + (span * q) / 65535);
      s.logScales[3 * t + a] = scaleBook[sc[o + a]];
      s.dc[3 * t + a] = dcBook[s0[o + a]];
    }
    s.opacity[t] = sigmoid(logit(s0[o + 3] / 255));
    // Smallest-three quaternion; the alpha says which component was left out.
    const m = qs[o + 3] - 252;
    const q = [0, 0, 0, 0];
    if (m < 0 || m > 3) {
      q[0] = 1;
    } else {
      let k = 0;
      let sum = 0;
      for (let i = 0; i < 4; i++) {
        if (i === m) continue;
        q[i] = (qs[o + k] / 255 * 2 - 1) / Math.SQRT2;
        sum += q[i] * q[i];
        k++;
      }
      q[m] = Math.sqrt(Math.max(0, 1 - sum));
    }
    s.quats.set(q, 4 * t);
  }
  if (bands > 0) {
    const k = restPerChannel(bands);
    const count = meta.shN.count;
    const restBook = book(meta.shN.codebook, 'shN');
    const cent = await image(meta.shN.files, 0, 'shN centroids');
    const labels = await perGaussian(meta.shN.files, 1, 'shN labels');
    if (cent.width !== 64 * k || cent.width * cent.height < count * k) {
      throw new SceneError(`${name}: ${meta.shN.files[0]} is ${cent.width}x${cent.height}; ${count} centroids of ${bands} band(s) need width ${64 * k}`);
    }
    for (let t = 0; t < n; t++) {
      const l = labels[4 * t] | (labels[4 * t + 1] << 8);
      if (l >= count) throw new SceneError(`${name}: shN label ${l} of Gaussian ${t} is outside the palette of ${count}`);
      const x0 = (l % 64) * k;
      const y = Math.floor(l / 64);
      for (let j = 0; j < k; j++) {
        const p = 4 * (y * cent.width + x0 + j);
        for (let c = 0; c < 3; c++) s.rest[3 * k * t + c * k + j] = restBook[cent.rgba[p + c]];
      }
    }
  }
  return s;
}

function parseJson(bytes, what) {
  try {
    return JSON.parse(new TextDecoder().decode(bytes));
  } catch (e) {
    throw new SceneError(`${what}: not valid JSON (${e.message})`);
  }
}

async function parseSogBundle(gl, buffer, name) {
  const files = await unzip(buffer, name);
  const metaBytes = files.get('meta.json');
  if (!metaBytes) throw new SceneError(`${name}: no meta.json in the bundle`);
  const meta = parseJson(metaBytes, `${name}: meta.json`);
  return parseSog(gl, meta, async (f) => {
    const b = files.get(f);
    if (!b) throw new SceneError(`${name}: ${f} is missing from the bundle`);
    return b;
  }, name);
}

// Bytes at a URL, with progress reported as (loaded, total).
async function fetchBytes(url, onProgress) {
  const res = await fetch(url);
  if (!res.ok) throw new SceneError(`${url}: ${res.status} ${res.statusText} ${await res.text()}`);
  const total = Number(res.headers.get('content-length')) || 0;
  if (!res.body || !onProgress) return res.arrayBuffer();
  const reader = res.body.getReader();
  const parts = [];
  let loaded = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    parts.push(value);
    loaded += value.length;
    onProgress(loaded, total);
  }
  const out = new Uint8Array(loaded);
  let o = 0;
  for (const p of parts) { out.set(p, o); o += p.length; }
  return out.buffer;
}

// Loads what `model` describes ({format: 'ply'|'sog'|'sog-folder', url, name} or, in an exported
// page, {format, embedded: base64}).
async function loadModel(gl, model, onProgress) {
  const name = model.name || model.url;
  let buffer;
  if (model.embedded !== undefined) {
    buffer = await (await fetch(`data:application/octet-stream;base64,${model.embedded}`)).arrayBuffer();
  } else if (model.format !== 'sog-folder') {
    buffer = await fetchBytes(model.url, onProgress);
  }
  switch (model.format) {
    case 'ply': return parsePly(buffer, name);
    case 'sog': return parseSogBundle(gl, buffer, name);
    case 'sog-folder': {
      const base = model.url.slice(0, model.url.lastIndexOf('/') + 1);
      const meta = parseJson(new Uint8Array(await fetchBytes(model.url)), `${name}`);
      return parseSog(gl, meta, async (f) => new Uint8Array(await fetchBytes(base + encodeURIComponent(f))), name);
    }
    default: throw new SceneError(`${name}: unknown format ${model.format}`);
  }
}
