// Shared by the kernels that move Gaussians at random (concatenated in front of densify.wgsl and
// mcmc.wgsl by their hosts): a hash generator, standard normals, and a quaternion's rotation.
// `quat_of` reads the `quats` array each includer declares.

fn pcg(v: u32) -> u32 {
    let state = v * 747796405u + 2891336453u;
    let word = ((state >> ((state >> 28u) + 4u)) ^ state) * 277803737u;
    return (word >> 22u) ^ word;
}

// Uniform in (0, 1].
fn unit(h: u32) -> f32 {
    return f32((h >> 8u) + 1u) * (1.0 / 16777216.0);
}

// Three standard normal samples drawn from `key` (Box–Muller on four hashes of it).
fn normals_from(key: u32) -> vec3<f32> {
    let r0 = sqrt(-2.0 * log(unit(pcg(key))));
    let t0 = 6.2831853 * unit(pcg(key + 1u));
    let r1 = sqrt(-2.0 * log(unit(pcg(key + 2u))));
    let t1 = 6.2831853 * unit(pcg(key + 3u));
    return vec3<f32>(r0 * cos(t0), r0 * sin(t0), r1 * cos(t1));
}

// Rotation matrix (as columns) of the quaternion w, x, y, z, normalised here.
fn quat_rotation(q0: vec4<f32>) -> mat3x3<f32> {
    let q = q0 / max(length(q0), 1e-12);
    let w = q.x;
    let x = q.y;
    let y = q.z;
    let z = q.w;
    return mat3x3<f32>(
        vec3<f32>(1.0 - 2.0 * (y * y + z * z), 2.0 * (x * y + w * z), 2.0 * (x * z - w * y)),
        vec3<f32>(2.0 * (x * y - w * z), 1.0 - 2.0 * (x * x + z * z), 2.0 * (y * z + w * x)),
        vec3<f32>(2.0 * (x * z + w * y), 2.0 * (y * z - w * x), 1.0 - 2.0 * (x * x + y * y)),
    );
}

fn quat_of(i: u32) -> vec4<f32> {
    return vec4<f32>(quats[4u * i], quats[4u * i + 1u], quats[4u * i + 2u], quats[4u * i + 3u]);
}
