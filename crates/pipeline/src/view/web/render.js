// The splat viewer's WebGL2 renderer. It draws what splat's GPU rasterizer draws: the same
// perspective Jacobian (x/z and y/z clamped to the widened field of view), covariance dilation,
// 3-sigma tile rectangles, alpha bounds and SH colours, composited back to front (after a depth
// sort in a worker) into a half-float target, then over the background. Each Gaussian is one
// instanced quad covering the pixels where its alpha can reach ALPHA_MIN inside its tile
// rectangle, so the same pixels receive the same contributions as in the tile rasterizer. The
// numbers both sides use come from Rust (`SPLAT_CONSTANTS`, written by `splat view`).
'use strict';

const TEXTURE_WIDTH = 4096;

// float32 -> IEEE half bits, rounded to nearest (ties up); used to pack SH coefficients.
const HALF_F32 = new Float32Array(1);
const HALF_U32 = new Uint32Array(HALF_F32.buffer);
function toHalf(v) {
  HALF_F32[0] = v;
  const x = HALF_U32[0];
  const sign = (x >>> 16) & 0x8000;
  const exp = (x >>> 23) & 0xff;
  let mant = x & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0);
  const e = exp - 127 + 15;
  if (e >= 31) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign;
    mant |= 0x800000;
    const shift = 14 - e;
    let h = mant >>> shift;
    if ((mant >>> (shift - 1)) & 1) h += 1;
    return sign | h;
  }
  let h = sign | (e << 10) | (mant >>> 13);
  if (mant & 0x1000) h += 1;
  return h;
}

// Texels (RGBA32UI) per Gaussian: mean + opacity; the unit quaternion (w, x, y, z); the three
// scales and two base-colour halves; then, as halves, the third base-colour channel and the SH
// coefficients beyond DC. The shader builds the covariance from rotation and scales in f32, as
// the GPU rasterizer does, and needs them apart for the camera-inside test.
function texelsPerGaussian(degree) {
  const k = restPerChannel(degree);
  return 3 + Math.ceil(Math.ceil((1 + 3 * k) / 2) / 4);
}

// The per-Gaussian texture's contents. A hot loop over millions of Gaussians: no allocation
// per Gaussian, plain arithmetic only.
function packScene(s, width) {
  const k = restPerChannel(s.degree);
  const stride = texelsPerGaussian(s.degree);
  const rows = Math.ceil((s.count * stride) / width) || 1;
  const data = new Uint32Array(rows * width * 4);
  const f = new Float32Array(data.buffer);
  const C0 = SPLAT_CONSTANTS.SH_C0;
  const q = s.quats;
  const ls = s.logScales;
  const m = s.means;
  const dc = s.dc;
  const rest = s.rest;
  for (let i = 0; i < s.count; i++) {
    const o = i * stride * 4;
    f[o] = m[3 * i];
    f[o + 1] = m[3 * i + 1];
    f[o + 2] = m[3 * i + 2];
    f[o + 3] = s.opacity[i];
    // A zero quaternion has no rotation: NaN, which the shader culls.
    const r = q[4 * i];
    const x = q[4 * i + 1];
    const y = q[4 * i + 2];
    const z = q[4 * i + 3];
    const len = Math.sqrt(r * r + x * x + y * y + z * z);
    const inv = len > 0 ? 1 / len : NaN;
    f[o + 4] = r * inv;
    f[o + 5] = x * inv;
    f[o + 6] = y * inv;
    f[o + 7] = z * inv;
    f[o + 8] = Math.exp(ls[3 * i]);
    f[o + 9] = Math.exp(ls[3 * i + 1]);
    f[o + 10] = Math.exp(ls[3 * i + 2]);
    data[o + 11] = toHalf(0.5 + C0 * dc[3 * i]) | (toHalf(0.5 + C0 * dc[3 * i + 1]) << 16);
    // Half 0: the third base-colour channel; then coefficient-major (j, channel), two halves
    // per u32.
    const u = o + 12;
    data[u] = toHalf(0.5 + C0 * dc[3 * i + 2]);
    const base = 3 * k * i;
    for (let h = 0; h < 3 * k; h++) {
      const j = (h / 3) | 0;
      const bits = toHalf(rest[base + (h - 3 * j) * k + j]);
      const at = h + 1;
      data[u + (at >> 1)] |= (at & 1) ? (bits << 16) : bits;
    }
  }
  return { data, rows, stride };
}

function glslConstants() {
  const fl = (v) => { const t = String(v); return /[.eE]/.test(t) ? t : `${t}.0`; };
  return [
    `const float DILATION = ${fl(SPLAT_CONSTANTS.DILATION)};`,
    `const float INSIDE_SIGMAS = ${fl(SPLAT_CONSTANTS.INSIDE_SIGMAS)};`,
    `const float ALPHA_MAX = ${fl(SPLAT_CONSTANTS.ALPHA_MAX)};`,
    `const float ALPHA_MIN = ${fl(SPLAT_CONSTANTS.ALPHA_MIN)};`,
    `const float TILE = ${fl(SPLAT_CONSTANTS.TILE)};`,
    `const float SH_C1 = ${fl(SPLAT_CONSTANTS.SH_C1)};`,
    `const float SH_C2[5] = float[5](${SPLAT_CONSTANTS.SH_C2.map(fl).join(', ')});`,
    `const float SH_C3[7] = float[7](${SPLAT_CONSTANTS.SH_C3.map(fl).join(', ')});`,
  ].join('\n');
}

const SPLAT_VS = `#version 300 es
precision highp float;
precision highp int;
precision highp usampler2D;
__CONSTANTS__
uniform usampler2D u_data;
uniform int u_stride;
uniform int u_rest;
uniform vec3 u_rot0;
uniform vec3 u_rot1;
uniform vec3 u_rot2;
uniform vec3 u_trans;
uniform vec3 u_campos;
uniform vec4 u_focal;
uniform vec3 u_limits;
uniform vec2 u_size;
in uint a_index;
flat out vec4 v_conic;
flat out vec3 v_color;
flat out vec2 v_mean;

uvec4 texel(int i) {
  int w = textureSize(u_data, 0).x;
  return texelFetch(u_data, ivec2(i % w, i / w), 0);
}

// Half h of the tail that starts at texel 3 (two per u32, four u32 per texel).
float tailHalf(int base, int h) {
  int word = h >> 1;
  uvec4 t = texel(base + 3 + (word >> 2));
  vec2 pair = unpackHalf2x16(t[word & 3]);
  return (h & 1) == 1 ? pair.y : pair.x;
}

vec3 restCoeff(int base, int j) {
  // Halves 1 + 3j .. 3 + 3j (half 0 is the third base-colour channel).
  return vec3(tailHalf(base, 1 + 3 * j), tailHalf(base, 2 + 3 * j), tailHalf(base, 3 + 3 * j));
}

float tileIndex(float v, float maxTiles) {
  return clamp(trunc(v), 0.0, maxTiles);
}

void cull() {
  gl_Position = vec4(2.0, 2.0, 2.0, 1.0);
}

void main() {
  int base = int(a_index) * u_stride;
  uvec4 t0 = texel(base);
  uvec4 t1 = texel(base + 1);
  uvec4 t2 = texel(base + 2);
  vec3 m = uintBitsToFloat(t0.xyz);
  float opacity = uintBitsToFloat(t0.w);
  vec3 p = vec3(dot(u_rot0, m), dot(u_rot1, m), dot(u_rot2, m)) + u_trans;
  if (!(p.z >= u_limits.z) || !(abs(p.x) < 3.0e38) || !(abs(p.y) < 3.0e38) || opacity < ALPHA_MIN) {
    cull();
    return;
  }
  // R from the unit quaternion (w, x, y, z), columns; M = R diag(s); Sigma = M M^T.
  vec4 q = uintBitsToFloat(t1);
  vec3 s = uintBitsToFloat(t2.xyz);
  mat3 rot = mat3(
    1.0 - 2.0 * (q.z * q.z + q.w * q.w), 2.0 * (q.y * q.z + q.x * q.w), 2.0 * (q.y * q.w - q.x * q.z),
    2.0 * (q.y * q.z - q.x * q.w), 1.0 - 2.0 * (q.y * q.y + q.w * q.w), 2.0 * (q.z * q.w + q.x * q.y),
    2.0 * (q.y * q.w + q.x * q.z), 2.0 * (q.z * q.w - q.x * q.y), 1.0 - 2.0 * (q.y * q.y + q.z * q.z));
  // The camera inside the INSIDE_SIGMAS ellipsoid: |S^-1 R^T (c - m)|^2 < k^2 (NaN draws).
  vec3 d = (u_campos - m) * rot / s;
  if (dot(d, d) < INSIDE_SIGMAS * INSIDE_SIGMAS) {
    cull();
    return;
  }
  mat3 mm = mat3(rot[0] * s.x, rot[1] * s.y, rot[2] * s.z);
  mat3 sigma = mm * transpose(mm);
  float ux = clamp(p.x / p.z, -u_limits.x, u_limits.x);
  float uy = clamp(p.y / p.z, -u_limits.y, u_limits.y);
  vec3 T0 = (u_focal.x / p.z) * u_rot0 - (u_focal.x * ux / p.z) * u_rot2;
  vec3 T1 = (u_focal.y / p.z) * u_rot1 - (u_focal.y * uy / p.z) * u_rot2;
  float a = dot(T0, sigma * T0) + DILATION;
  float b = dot(T0, sigma * T1);
  float c = dot(T1, sigma * T1) + DILATION;
  float det = a * c - b * b;
  if (!(det > 0.0) || !(det < 3.0e38)) {
    cull();
    return;
  }
  float mid = 0.5 * (a + c);
  float lambda1 = mid + sqrt(max(0.1, mid * mid - det));
  float radius = ceil(3.0 * sqrt(lambda1));
  vec2 mean = vec2(u_focal.x * p.x / p.z + u_focal.z, u_focal.y * p.y / p.z + u_focal.w);
  vec2 pc = mean - vec2(0.5);
  vec2 tiles = ceil(u_size / TILE);
  vec4 rect = vec4(
    tileIndex((pc.x - radius) / TILE, tiles.x),
    tileIndex((pc.y - radius) / TILE, tiles.y),
    tileIndex((pc.x + radius + TILE - 1.0) / TILE, tiles.x),
    tileIndex((pc.y + radius + TILE - 1.0) / TILE, tiles.y));
  if (rect.z <= rect.x || rect.w <= rect.y) {
    cull();
    return;
  }
  // Where alpha can reach ALPHA_MIN: x^T Sigma2d^-1 x <= 2 ln(opacity / ALPHA_MIN).
  float cut = 2.0 * log(opacity / ALPHA_MIN);
  vec2 extent = sqrt(cut * vec2(a, c)) + 1.0;
  vec2 lo = max(rect.xy * TILE, mean - extent);
  vec2 hi = min(rect.zw * TILE, mean + extent);
  if (!(hi.x > lo.x) || !(hi.y > lo.y)) {
    cull();
    return;
  }
  vec2 corner = vec2(float(gl_VertexID & 1), float(gl_VertexID >> 1));
  vec2 px = mix(lo, hi, corner);
  gl_Position = vec4(2.0 * px.x / u_size.x - 1.0, 1.0 - 2.0 * px.y / u_size.y, 0.0, 1.0);

  vec3 dir = normalize(m - u_campos);
  vec3 color = vec3(unpackHalf2x16(t2.w), tailHalf(base, 0));
  if (u_rest >= 3) {
    float x = dir.x, y = dir.y, z = dir.z;
    color += -SH_C1 * y * restCoeff(base, 0) + SH_C1 * z * restCoeff(base, 1) - SH_C1 * x * restCoeff(base, 2);
    if (u_rest >= 8) {
      float xx = x * x, yy = y * y, zz = z * z;
      color += SH_C2[0] * x * y * restCoeff(base, 3)
        + SH_C2[1] * y * z * restCoeff(base, 4)
        + SH_C2[2] * (2.0 * zz - xx - yy) * restCoeff(base, 5)
        + SH_C2[3] * x * z * restCoeff(base, 6)
        + SH_C2[4] * (xx - yy) * restCoeff(base, 7);
      if (u_rest >= 15) {
        color += SH_C3[0] * y * (3.0 * xx - yy) * restCoeff(base, 8)
          + SH_C3[1] * x * y * z * restCoeff(base, 9)
          + SH_C3[2] * y * (4.0 * zz - xx - yy) * restCoeff(base, 10)
          + SH_C3[3] * z * (2.0 * zz - 3.0 * xx - 3.0 * yy) * restCoeff(base, 11)
          + SH_C3[4] * x * (4.0 * zz - xx - yy) * restCoeff(base, 12)
          + SH_C3[5] * z * (xx - yy) * restCoeff(base, 13)
          + SH_C3[6] * x * (xx - 3.0 * yy) * restCoeff(base, 14);
      }
    }
  }
  v_color = max(color, vec3(0.0));
  v_conic = vec4(c / det, -b / det, a / det, opacity);
  v_mean = mean;
}
`;

const SPLAT_FS = `#version 300 es
precision highp float;
__CONSTANTS__
uniform float u_height;
flat in vec4 v_conic;
flat in vec3 v_color;
flat in vec2 v_mean;
out vec4 o_color;
void main() {
  vec2 d = v_mean - vec2(gl_FragCoord.x, u_height - gl_FragCoord.y);
  float power = -0.5 * (v_conic.x * d.x * d.x + v_conic.z * d.y * d.y) - v_conic.y * d.x * d.y;
  if (power > 0.0) discard;
  float alpha = min(ALPHA_MAX, v_conic.w * exp(power));
  if (alpha < ALPHA_MIN) discard;
  o_color = vec4(v_color * alpha, alpha);
}
`;

const COMPOSE_VS = `#version 300 es
void main() {
  vec2 p = vec2(float((gl_VertexID & 1) * 4 - 1), float((gl_VertexID >> 1) * 4 - 1));
  gl_Position = vec4(p, 0.0, 1.0);
}
`;

const COMPOSE_FS = `#version 300 es
precision highp float;
uniform sampler2D u_acc;
uniform vec3 u_background;
out vec4 o_color;
void main() {
  vec4 acc = texelFetch(u_acc, ivec2(gl_FragCoord.xy), 0);
  o_color = vec4(clamp(acc.rgb + (1.0 - acc.a) * u_background, 0.0, 1.0), 1.0);
}
`;

function compile(gl, vs, fs, what) {
  const shader = (type, src) => {
    const s = gl.createShader(type);
    gl.shaderSource(s, src.replace('__CONSTANTS__', glslConstants()));
    gl.compileShader(s);
    if (!gl.getShaderParameter(s, gl.COMPILE_STATUS)) {
      throw new Error(`${what} shader: ${gl.getShaderInfoLog(s)}`);
    }
    return s;
  };
  const prog = gl.createProgram();
  gl.attachShader(prog, shader(gl.VERTEX_SHADER, vs));
  gl.attachShader(prog, shader(gl.FRAGMENT_SHADER, fs));
  gl.linkProgram(prog);
  if (!gl.getProgramParameter(prog, gl.LINK_STATUS)) {
    throw new Error(`${what} program: ${gl.getProgramInfoLog(prog)}`);
  }
  const uniforms = {};
  const n = gl.getProgramParameter(prog, gl.ACTIVE_UNIFORMS);
  for (let i = 0; i < n; i++) {
    const info = gl.getActiveUniform(prog, i);
    uniforms[info.name.replace(/\[0\]$/, '')] = gl.getUniformLocation(prog, info.name);
  }
  return { prog, uniforms };
}

// The depth sort, run in a worker: indices of the Gaussians in front of the near plane, far to
// near, by an exact LSD radix sort of the depths' float bits (stable, so equal depths keep
// index order front to back, as the GPU's sort does).
function sortWorkerMain() {
  let means = null;
  self.onmessage = (e) => {
    const msg = e.data;
    if (msg.means) { means = msg.means; return; }
    const t0 = performance.now();
    const n = means.length / 3;
    const [r0, r1, r2] = msg.row;
    const keys = new Uint32Array(n);
    const kf = new Float32Array(keys.buffer);
    const idx = new Uint32Array(n);
    let live = 0;
    for (let i = 0; i < n; i++) {
      const z = r0 * means[3 * i] + r1 * means[3 * i + 1] + r2 * means[3 * i + 2] + msg.t;
      if (z >= msg.near && z < 3e38) {
        kf[live] = z;
        idx[live] = i;
        live++;
      }
    }
    let k = keys.subarray(0, live);
    let v = idx.subarray(0, live);
    let k2 = new Uint32Array(live);
    let v2 = new Uint32Array(live);
    const counts = new Uint32Array(2048);
    for (const shift of [0, 11, 22]) {
      counts.fill(0);
      for (let i = 0; i < live; i++) counts[(k[i] >>> shift) & 2047]++;
      let sum = 0;
      for (let d = 0; d < 2048; d++) { const c = counts[d]; counts[d] = sum; sum += c; }
      for (let i = 0; i < live; i++) {
        const d = (k[i] >>> shift) & 2047;
        const o = counts[d]++;
        k2[o] = k[i];
        v2[o] = v[i];
      }
      [k, k2] = [k2, k];
      [v, v2] = [v2, v];
    }
    const order = new Uint32Array(live);
    for (let i = 0; i < live; i++) order[i] = v[live - 1 - i];
    self.postMessage({ id: msg.id, order, ms: performance.now() - t0 }, [order.buffer]);
  };
}

class SplatRenderer {
  constructor(gl) {
    this.gl = gl;
    if (!gl.getExtension('EXT_color_buffer_float')) {
      throw new Error('this browser cannot render to float targets (EXT_color_buffer_float)');
    }
    gl.getExtension('EXT_float_blend');
    this.splat = compile(gl, SPLAT_VS, SPLAT_FS, 'splat');
    this.compose = compile(gl, COMPOSE_VS, COMPOSE_FS, 'compose');
    this.vao = gl.createVertexArray();
    this.indexBuffer = gl.createBuffer();
    gl.bindVertexArray(this.vao);
    gl.bindBuffer(gl.ARRAY_BUFFER, this.indexBuffer);
    const loc = gl.getAttribLocation(this.splat.prog, 'a_index');
    gl.enableVertexAttribArray(loc);
    gl.vertexAttribIPointer(loc, 1, gl.UNSIGNED_INT, 0, 0);
    gl.vertexAttribDivisor(loc, 1);
    gl.bindVertexArray(null);
    this.emptyVao = gl.createVertexArray();
    this.drawn = 0;
    this.target = null;
    this.worker = null;
    this.pending = new Map();
    this.nextSortId = 1;
    this.sortedId = 0;
    this.lastSortMs = 0;
  }

  setScene(scene) {
    const gl = this.gl;
    const width = Math.min(TEXTURE_WIDTH, gl.getParameter(gl.MAX_TEXTURE_SIZE));
    const { data, rows, stride } = packScene(scene, width);
    if (rows > gl.getParameter(gl.MAX_TEXTURE_SIZE)) {
      throw new Error(`${scene.count} Gaussians need a ${width}x${rows} texture; this GPU allows ${gl.getParameter(gl.MAX_TEXTURE_SIZE)} rows`);
    }
    this.dropScene();
    this.texture = gl.createTexture();
    gl.bindTexture(gl.TEXTURE_2D, this.texture);
    gl.texParameteri(gl.TEXTURE_2D, gl.TEXTURE_MIN_FILTER, gl.NEAREST);
    gl.texParameteri(gl.TEXTURE_2D, gl.TEXTURE_MAG_FILTER, gl.NEAREST);
    gl.texImage2D(gl.TEXTURE_2D, 0, gl.RGBA32UI, width, rows, 0, gl.RGBA_INTEGER, gl.UNSIGNED_INT, data);
    this.stride = stride;
    this.rest = restPerChannel(scene.degree);
    this.count = scene.count;
    const src = `(${sortWorkerMain.toString()})();`;
    this.worker = new Worker(URL.createObjectURL(new Blob([src], { type: 'text/javascript' })));
    this.worker.onmessage = (e) => this.onSorted(e.data);
    this.worker.postMessage({ means: scene.means.slice() });
  }

  // Frees the scene shown so far (a followed run's next model replaces it): its texture, its
  // sorting worker, and the order drawn from it; sorts still awaited resolve at once.
  dropScene() {
    if (this.texture) this.gl.deleteTexture(this.texture);
    this.texture = null;
    if (this.worker) this.worker.terminate();
    this.worker = null;
    this.drawn = 0;
    for (const resolve of this.pending.values()) resolve();
    this.pending.clear();
  }

  // Asks the worker for the order seen from `cam`; resolves once it is in use.
  sort(cam) {
    const id = this.nextSortId++;
    const p = new Promise((resolve) => this.pending.set(id, resolve));
    this.worker.postMessage({ id, row: [cam.R[6], cam.R[7], cam.R[8]], t: cam.t[2], near: cam.near });
    return p;
  }

  onSorted(msg) {
    const gl = this.gl;
    if (msg.id > this.sortedId) {
      gl.bindBuffer(gl.ARRAY_BUFFER, this.indexBuffer);
      gl.bufferData(gl.ARRAY_BUFFER, msg.order, gl.DYNAMIC_DRAW);
      this.drawn = msg.order.length;
      this.sortedId = msg.id;
      this.lastSortMs = msg.ms;
    }
    for (const [id, resolve] of this.pending) {
      if (id <= msg.id) { this.pending.delete(id); resolve(); }
    }
  }

  ensureTarget(w, h) {
    const gl = this.gl;
    if (this.target && this.target.w === w && this.target.h === h) return;
    if (this.target) { gl.deleteTexture(this.target.tex); gl.deleteFramebuffer(this.target.fb); }
    const tex = gl.createTexture();
    gl.bindTexture(gl.TEXTURE_2D, tex);
    gl.texParameteri(gl.TEXTURE_2D, gl.TEXTURE_MIN_FILTER, gl.NEAREST);
    gl.texParameteri(gl.TEXTURE_2D, gl.TEXTURE_MAG_FILTER, gl.NEAREST);
    gl.texImage2D(gl.TEXTURE_2D, 0, gl.RGBA16F, w, h, 0, gl.RGBA, gl.HALF_FLOAT, null);
    const fb = gl.createFramebuffer();
    gl.bindFramebuffer(gl.FRAMEBUFFER, fb);
    gl.framebufferTexture2D(gl.FRAMEBUFFER, gl.COLOR_ATTACHMENT0, gl.TEXTURE_2D, tex, 0);
    if (gl.checkFramebufferStatus(gl.FRAMEBUFFER) !== gl.FRAMEBUFFER_COMPLETE) {
      throw new Error('cannot render to a half-float target on this GPU');
    }
    this.target = { w, h, tex, fb };
  }

  // Draws the current order from camera `cam` over `background` into the canvas.
  draw(cam, background) {
    const gl = this.gl;
    const w = gl.drawingBufferWidth;
    const h = gl.drawingBufferHeight;
    this.ensureTarget(w, h);
    gl.bindFramebuffer(gl.FRAMEBUFFER, this.target.fb);
    gl.viewport(0, 0, w, h);
    gl.clearColor(0, 0, 0, 0);
    gl.clear(gl.COLOR_BUFFER_BIT);
    if (this.drawn > 0) {
      const { prog, uniforms: u } = this.splat;
      gl.useProgram(prog);
      gl.enable(gl.BLEND);
      gl.blendFunc(gl.ONE, gl.ONE_MINUS_SRC_ALPHA);
      gl.activeTexture(gl.TEXTURE0);
      gl.bindTexture(gl.TEXTURE_2D, this.texture);
      gl.uniform1i(u.u_data, 0);
      gl.uniform1i(u.u_stride, this.stride);
      gl.uniform1i(u.u_rest, this.rest);
      const R = cam.R;
      gl.uniform3f(u.u_rot0, R[0], R[1], R[2]);
      gl.uniform3f(u.u_rot1, R[3], R[4], R[5]);
      gl.uniform3f(u.u_rot2, R[6], R[7], R[8]);
      gl.uniform3f(u.u_trans, cam.t[0], cam.t[1], cam.t[2]);
      const c = cameraCentre(cam);
      gl.uniform3f(u.u_campos, c[0], c[1], c[2]);
      gl.uniform4f(u.u_focal, cam.fx, cam.fy, cam.cx, cam.cy);
      const clamp = SPLAT_CONSTANTS.FOV_CLAMP;
      gl.uniform3f(u.u_limits, (clamp * w) / (2 * cam.fx), (clamp * h) / (2 * cam.fy), cam.near);
      gl.uniform2f(u.u_size, w, h);
      gl.uniform1f(u.u_height, h);
      gl.bindVertexArray(this.vao);
      gl.drawArraysInstanced(gl.TRIANGLE_STRIP, 0, 4, this.drawn);
      gl.bindVertexArray(null);
      gl.disable(gl.BLEND);
    }
    gl.bindFramebuffer(gl.FRAMEBUFFER, null);
    gl.viewport(0, 0, w, h);
    const { prog, uniforms: u } = this.compose;
    gl.useProgram(prog);
    gl.activeTexture(gl.TEXTURE0);
    gl.bindTexture(gl.TEXTURE_2D, this.target.tex);
    gl.uniform1i(u.u_acc, 0);
    gl.uniform3f(u.u_background, background[0], background[1], background[2]);
    gl.bindVertexArray(this.emptyVao);
    gl.drawArrays(gl.TRIANGLES, 0, 3);
    gl.bindVertexArray(null);
  }
}

// Camera centre -R^T t of a world -> camera pose (R row-major).
function cameraCentre(cam) {
  const R = cam.R;
  const t = cam.t;
  return [
    -(R[0] * t[0] + R[3] * t[1] + R[6] * t[2]),
    -(R[1] * t[0] + R[4] * t[1] + R[7] * t[2]),
    -(R[2] * t[0] + R[5] * t[1] + R[8] * t[2]),
  ];
}
