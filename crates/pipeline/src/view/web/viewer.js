// The splat viewer's page: loads the scene `splat view` (or an exported page) describes, shows
// it with orbit and fly controls, steps through the training cameras, and reports the Gaussian
// count, frame and sort times. Shown a run still training (`meta.live`), it asks the server every
// few seconds for a newer model and swaps it in where the user stands. `window.splatViewer` is
// its programmatic face (used by the tests and the benchmark, and handy from the console): ready,
// goToCamera(i), screenshot(), stats.
'use strict';

// How often a followed run is asked for a newer model (ms).
const FOLLOW_MS = 3000;

const hud = {
  el: (id) => document.getElementById(id),
  set(id, text) { const e = this.el(id); if (e) e.textContent = text; },
};

// The model's name in the tab and on the HUD.
function showTitle(meta) {
  document.title = `${meta.title || 'splat'} — splat view`;
  hud.set('title', meta.title || '');
}

// Shown on the page and sent to the terminal of `splat view` (when there is one).
function showError(message) {
  const box = hud.el('error');
  box.textContent = message;
  box.hidden = false;
  hud.el('loading').hidden = true;
  if (location.protocol.startsWith('http')) {
    fetch('/api/error', { method: 'POST', body: message }).catch(() => {});
  }
}

// --- camera math (world -> camera: x right, y down, z forward, as COLMAP) ---

function matMul3(a, b) {
  const o = new Array(9).fill(0);
  for (let i = 0; i < 3; i++) for (let j = 0; j < 3; j++) for (let k = 0; k < 3; k++) o[3 * i + j] += a[3 * i + k] * b[3 * k + j];
  return o;
}

function rotationAbout(axis, angle) {
  const [x, y, z] = axis;
  const c = Math.cos(angle);
  const s = Math.sin(angle);
  const t = 1 - c;
  return [
    t * x * x + c, t * x * y - s * z, t * x * z + s * y,
    t * x * y + s * z, t * y * y + c, t * y * z - s * x,
    t * x * z - s * y, t * y * z + s * x, t * z * z + c,
  ];
}

function normalize(v) {
  const l = Math.hypot(v[0], v[1], v[2]) || 1;
  return [v[0] / l, v[1] / l, v[2] / l];
}

function cross(a, b) {
  return [a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2], a[0] * b[1] - a[1] * b[0]];
}

// A pose (R rows: right, down, forward in world coordinates) looking from `eye` along `fwd`.
function lookAlong(eye, fwd, up) {
  const f = normalize(fwd);
  let r = cross(f, up);
  if (Math.hypot(...r) < 1e-9) r = cross(f, [1, 0, 0]);
  r = normalize(r);
  const d = cross(f, r);
  const R = [...r, ...d, ...f];
  const t = [0, 1, 2].map((i) => -(R[3 * i] * eye[0] + R[3 * i + 1] * eye[1] + R[3 * i + 2] * eye[2]));
  return { R, t };
}

class Viewer {
  constructor(canvas, meta) {
    this.canvas = canvas;
    this.meta = meta;
    this.background = meta.background || [0, 0, 0];
    this.cameras = meta.cameras || [];
    this.cameraIndex = -1;
    this.mode = 'orbit';
    this.keys = new Set();
    this.frameMs = 0;
    this.dirty = true;
    this.sortNeeded = true;
    this.sorting = false;
    this.exact = null;
    const gl = canvas.getContext('webgl2', { antialias: false, alpha: false, premultipliedAlpha: false, preserveDrawingBuffer: true });
    if (!gl) throw new Error('this browser has no WebGL2');
    this.gl = gl;
    this.renderer = new SplatRenderer(gl);
  }

  async load() {
    const t0 = performance.now();
    const scene = await loadModel(this.gl, this.meta.model, (loaded, total) => {
      hud.set('loading', total ? `loading ${(100 * loaded / total).toFixed(0)} %` : `loading ${(loaded / 1e6).toFixed(1)} MB`);
    });
    const t1 = performance.now();
    this.renderer.setScene(scene);
    this.scene = scene;
    this.stats = { gaussians: scene.count, shDegree: scene.degree, loadMs: t1 - t0, uploadMs: performance.now() - t1 };
    this.near = this.meta.near || 0;
    this.up = this.worldUp();
    this.frameScene(scene);
    if (this.cameras.length) this.setCamera(0);
    this.showModel();
    hud.el('loading').hidden = true;
    this.attachControls();
    await this.refresh();
    requestAnimationFrame((t) => this.tick(t));
  }

  // The HUD's lines about the model: its file, its size, and the step of a run still training.
  showModel() {
    showTitle(this.meta);
    hud.set('count', `${this.scene.count.toLocaleString()} Gaussians`);
    let step = '';
    if (this.meta.step !== undefined) step = `training: step ${this.meta.step.toLocaleString()}`;
    else if (this.meta.live && this.reloads) step = 'training finished';
    hud.set('step', step);
  }

  // Asks the server every FOLLOW_MS whether it shows a newer model (a later checkpoint of the
  // run, or its final model) and loads it; the camera stays where it is.
  follow() {
    const poll = async () => {
      try {
        const res = await fetch('/api/scene');
        if (res.ok) {
          const meta = await res.json();
          if (meta.version !== this.meta.version) await this.reload(meta);
        }
      } catch (e) {
        // The server may be gone or the model half-read: the next poll tries again.
        console.warn(`following the run: ${e.message || e}`);
      }
      setTimeout(poll, FOLLOW_MS);
    };
    setTimeout(poll, FOLLOW_MS);
  }

  // Shows the model `meta` describes in place of the current one.
  async reload(meta) {
    const t0 = performance.now();
    const scene = await loadModel(this.gl, meta.model, () => {});
    const t1 = performance.now();
    this.renderer.setScene(scene);
    this.scene = scene;
    this.meta = { ...meta, cameras: this.meta.cameras };
    this.reloads = (this.reloads || 0) + 1;
    this.stats = { ...this.stats, gaussians: scene.count, shDegree: scene.degree, loadMs: t1 - t0, uploadMs: performance.now() - t1, reloads: this.reloads };
    this.showModel();
    this.changed();
    await this.refresh();
  }

  sceneRadius(scene) {
    const c = this.centre;
    const d = [];
    for (let i = 0; i < scene.count; i += Math.max(1, Math.floor(scene.count / 10000))) {
      d.push(Math.hypot(scene.means[3 * i] - c[0], scene.means[3 * i + 1] - c[1], scene.means[3 * i + 2] - c[2]));
    }
    d.sort((a, b) => a - b);
    return d.length ? d[Math.floor(0.9 * (d.length - 1))] || 1 : 1;
  }

  // The cameras' mean up direction (-y of each), or -y of the world.
  worldUp() {
    if (!this.cameras.length) return [0, -1, 0];
    const u = [0, 0, 0];
    for (const c of this.cameras) for (let a = 0; a < 3; a++) u[a] -= c.R[3 + a];
    return normalize(u);
  }

  // Centre on the median of the means; stand back along the first camera's view (or +z).
  frameScene(scene) {
    const med = [0, 1, 2].map((a) => {
      const v = [];
      for (let i = 0; i < scene.count; i += Math.max(1, Math.floor(scene.count / 10000))) v.push(scene.means[3 * i + a]);
      v.sort((x, y) => x - y);
      return v.length ? v[v.length >> 1] : 0;
    });
    this.centre = med;
    this.target = med.slice();
    this.radius = this.sceneRadius(scene);
    if (!this.meta.near) this.near = 0.01 * this.radius;
    const fwd = this.cameras.length ? this.cameras[0].R.slice(6, 9) : [0, 0, 1];
    const eye = med.map((m, a) => m - 2.5 * this.radius * fwd[a]);
    this.pose = lookAlong(eye, fwd, this.up);
    this.distance = 2.5 * this.radius;
    this.intrinsics = null;
  }

  eye() {
    return cameraCentre(this.pose);
  }

  // The camera for this frame: the pose, and intrinsics fitted to the canvas.
  camera() {
    const w = this.canvas.width;
    const h = this.canvas.height;
    let fx; let fy; let cx; let cy;
    if (this.intrinsics) {
      const k = this.intrinsics;
      const s = Math.min(w / k.width, h / k.height);
      fx = k.fx * s; fy = k.fy * s;
      cx = k.cx * s + (w - k.width * s) / 2;
      cy = k.cy * s + (h - k.height * s) / 2;
    } else {
      fx = fy = 0.9 * Math.max(w, h);
      cx = w / 2; cy = h / 2;
    }
    return { R: this.pose.R, t: this.pose.t, fx, fy, cx, cy, near: this.near };
  }

  setCamera(i) {
    const n = this.cameras.length;
    if (!n) return;
    this.cameraIndex = ((i % n) + n) % n;
    const c = this.cameras[this.cameraIndex];
    this.pose = { R: c.R.slice(), t: c.t.slice() };
    this.intrinsics = c;
    const eye = this.eye();
    const f = c.R.slice(6, 9);
    const toCentre = this.centre.map((m, a) => m - eye[a]);
    this.distance = Math.max(1e-6, toCentre[0] * f[0] + toCentre[1] * f[1] + toCentre[2] * f[2]);
    this.target = eye.map((e, a) => e + this.distance * f[a]);
    hud.set('camera', `camera ${this.cameraIndex + 1}/${n}: ${c.name}`);
    this.changed();
  }

  changed() {
    this.dirty = true;
    this.sortNeeded = true;
  }

  resize() {
    if (this.exact) return;
    const dpr = window.devicePixelRatio || 1;
    const w = Math.max(1, Math.round(this.canvas.clientWidth * dpr));
    const h = Math.max(1, Math.round(this.canvas.clientHeight * dpr));
    if (this.canvas.width !== w || this.canvas.height !== h) {
      this.canvas.width = w;
      this.canvas.height = h;
      this.dirty = true;
    }
  }

  async refresh() {
    this.resize();
    await this.renderer.sort(this.camera());
    this.sortNeeded = false;
    this.render();
  }

  render() {
    const t0 = performance.now();
    this.renderer.draw(this.camera(), this.background);
    this.dirty = false;
    this.stats.drawMs = performance.now() - t0;
  }

  tick(time) {
    if (this.lastTime !== undefined) {
      const dt = Math.min(0.1, (time - this.lastTime) / 1000);
      this.fly(dt);
      this.frameMs = 0.9 * this.frameMs + 0.1 * (time - this.lastTime);
    }
    this.lastTime = time;
    this.resize();
    if (this.sortNeeded && !this.sorting) {
      this.sorting = true;
      this.sortNeeded = false;
      this.renderer.sort(this.camera()).then(() => { this.sorting = false; this.dirty = true; });
    }
    if (this.dirty) {
      this.render();
      hud.set('timing', `frame ${this.frameMs.toFixed(1)} ms · draw ${this.stats.drawMs.toFixed(1)} ms · sort ${this.renderer.lastSortMs.toFixed(0)} ms`);
    }
    requestAnimationFrame((t) => this.tick(t));
  }

  // --- controls ---

  attachControls() {
    const c = this.canvas;
    let drag = null;
    c.addEventListener('contextmenu', (e) => e.preventDefault());
    c.addEventListener('pointerdown', (e) => {
      drag = { x: e.clientX, y: e.clientY, pan: e.button === 2 || e.shiftKey };
      c.setPointerCapture(e.pointerId);
    });
    c.addEventListener('pointerup', () => { drag = null; });
    c.addEventListener('pointermove', (e) => {
      if (!drag) return;
      const dx = e.clientX - drag.x;
      const dy = e.clientY - drag.y;
      drag.x = e.clientX;
      drag.y = e.clientY;
      if (drag.pan) this.pan(dx, dy); else if (this.mode === 'orbit') this.orbit(dx, dy); else this.look(dx, dy);
    });
    c.addEventListener('wheel', (e) => {
      e.preventDefault();
      this.zoom(Math.exp(e.deltaY * 0.001));
    }, { passive: false });
    window.addEventListener('keydown', (e) => {
      if (e.key === 'ArrowRight' || e.key === ']') this.setCamera(this.cameraIndex + 1);
      else if (e.key === 'ArrowLeft' || e.key === '[') this.setCamera(this.cameraIndex - 1);
      else if (e.key === 'f') this.toggleMode();
      else if (e.key === 'r') { this.frameScene(this.scene); this.changed(); }
      else if (e.key === 'p') this.savePng();
      else this.keys.add(e.key.toLowerCase());
    });
    window.addEventListener('keyup', (e) => this.keys.delete(e.key.toLowerCase()));
    window.addEventListener('resize', () => { this.dirty = true; this.sortNeeded = true; });
    const btn = (id, f) => { const b = hud.el(id); if (b) b.addEventListener('click', f); };
    btn('prev', () => this.setCamera(this.cameraIndex - 1));
    btn('next', () => this.setCamera(this.cameraIndex + 1));
    btn('mode-btn', () => this.toggleMode());
    btn('frame', () => { this.frameScene(this.scene); this.changed(); });
    btn('png', () => this.savePng());
    if (!this.cameras.length) { for (const id of ['prev', 'next']) { const b = hud.el(id); if (b) b.hidden = true; } }
  }

  toggleMode() {
    this.mode = this.mode === 'orbit' ? 'fly' : 'orbit';
    hud.set('mode', this.mode === 'orbit' ? 'orbit (F: fly)' : 'fly (F: orbit)');
  }

  setPose(eye, R) {
    const t = [0, 1, 2].map((i) => -(R[3 * i] * eye[0] + R[3 * i + 1] * eye[1] + R[3 * i + 2] * eye[2]));
    this.pose = { R, t };
    this.changed();
  }

  // Turns the camera about the target: around the up axis, then around its own right axis.
  orbit(dx, dy) {
    const yaw = rotationAbout(this.up, -dx * 0.005);
    const right = this.pose.R.slice(0, 3);
    const pitch = rotationAbout(right, dy * 0.005);
    const turn = matMul3(pitch, yaw);
    // R' = R * turn^T (camera axes turned with the world).
    const Rt = [turn[0], turn[3], turn[6], turn[1], turn[4], turn[7], turn[2], turn[5], turn[8]];
    const R = matMul3(this.pose.R, Rt);
    const f = R.slice(6, 9);
    const eye = this.target.map((p, a) => p - this.distance * f[a]);
    this.setPose(eye, R);
  }

  look(dx, dy) {
    const eye = this.eye();
    const yaw = rotationAbout(this.up, -dx * 0.003);
    const pitch = rotationAbout(this.pose.R.slice(0, 3), dy * 0.003);
    const turn = matMul3(pitch, yaw);
    const Rt = [turn[0], turn[3], turn[6], turn[1], turn[4], turn[7], turn[2], turn[5], turn[8]];
    const R = matMul3(this.pose.R, Rt);
    this.target = eye.map((e, a) => e + this.distance * R[6 + a]);
    this.setPose(eye, R);
  }

  pan(dx, dy) {
    const s = this.distance * 0.0015;
    const R = this.pose.R;
    const move = [0, 1, 2].map((a) => -s * (dx * R[a] + dy * R[3 + a]));
    this.target = this.target.map((p, a) => p + move[a]);
    this.setPose(this.eye().map((e, a) => e + move[a]), R);
  }

  zoom(factor) {
    this.distance = Math.max(1e-4 * this.radius, this.distance * factor);
    const R = this.pose.R;
    this.setPose(this.target.map((p, a) => p - this.distance * R[6 + a]), R);
  }

  // WASD along the view, Q/E down and up, held keys only.
  fly(dt) {
    const dir = [0, 0, 0];
    const R = this.pose.R;
    const add = (row, s) => { for (let a = 0; a < 3; a++) dir[a] += s * R[3 * row + a]; };
    if (this.keys.has('w')) add(2, 1);
    if (this.keys.has('s')) add(2, -1);
    if (this.keys.has('d')) add(0, 1);
    if (this.keys.has('a')) add(0, -1);
    if (this.keys.has('e')) add(1, -1);
    if (this.keys.has('q')) add(1, 1);
    if (!dir.some((v) => v !== 0)) return;
    const speed = 0.5 * this.radius * dt * (this.keys.has('shift') ? 4 : 1);
    const eye = this.eye().map((e, a) => e + speed * dir[a]);
    this.target = this.target.map((p, a) => p + speed * dir[a]);
    this.setPose(eye, R);
  }

  savePng() {
    const a = document.createElement('a');
    a.href = this.canvas.toDataURL('image/png');
    a.download = 'splat-view.png';
    a.click();
  }
}

// --- the programmatic face ---

async function start() {
  let meta;
  const embedded = document.getElementById('splat-scene');
  try {
    if (embedded) {
      meta = JSON.parse(embedded.textContent);
      const model = document.getElementById('splat-model');
      meta.model.embedded = model.textContent.trim();
    } else {
      const res = await fetch('/api/scene');
      if (!res.ok) throw new Error(`/api/scene: ${res.status} ${await res.text()}`);
      meta = await res.json();
    }
    showTitle(meta);
    const viewer = new Viewer(document.getElementById('canvas'), meta);
    window.splatViewer.viewer = viewer;
    await viewer.load();
    if (meta.live) viewer.follow();
    return viewer;
  } catch (e) {
    showError(e instanceof SceneError ? e.message : `${e.message || e}`);
    throw e;
  }
}

window.splatViewer = {
  viewer: null,
  ready: null,
  // Shows training camera i at its own size (the canvas's buffer becomes width x height);
  // resolves once the order for that camera is sorted and drawn.
  async goToCamera(i) {
    const v = await this.ready;
    const c = v.cameras[i];
    if (!c) throw new Error(`no camera ${i} (there are ${v.cameras.length})`);
    v.exact = c;
    v.canvas.width = c.width;
    v.canvas.height = c.height;
    v.setCamera(i);
    await v.refresh();
    return { width: c.width, height: c.height, name: c.name };
  },
  // The canvas as a PNG data URL, drawn now.
  screenshot() {
    const v = this.viewer;
    v.render();
    return v.canvas.toDataURL('image/png');
  },
  // Mean time of `frames` draws, each waited for (a 1-pixel read forces completion).
  async benchmark(frames) {
    const v = await this.ready;
    const px = new Uint8Array(4);
    const times = [];
    for (let f = 0; f < frames; f++) {
      const t0 = performance.now();
      v.render();
      v.gl.readPixels(0, 0, 1, 1, v.gl.RGBA, v.gl.UNSIGNED_BYTE, px);
      times.push(performance.now() - t0);
    }
    const t0 = performance.now();
    await v.renderer.sort(v.camera());
    const sortRoundTrip = performance.now() - t0;
    return { ...v.stats, frameMs: times.reduce((a, b) => a + b, 0) / frames, sortMs: v.renderer.lastSortMs, sortRoundTripMs: sortRoundTrip };
  },
  get stats() { return this.viewer && this.viewer.stats; },
};
window.splatViewer.ready = start();
window.splatViewer.ready.catch(() => {});
