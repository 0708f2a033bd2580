//! Checkpoints of a run: everything needed to continue it exactly (the model, the optimiser's
//! moments, the density statistics, the view order), and restoring from one.

use super::Trainer;
use crate::checkpoint::{Checkpoint, Header};
use crate::error::TrainError;
use crate::model::GpuGaussians;

impl Trainer<'_> {
    /// Everything needed to continue this run exactly (see `checkpoint`).
    pub fn checkpoint(&self) -> Result<Checkpoint, TrainError> {
        let ctx = self.ctx;
        let g = self.gaussians.read(ctx)?;
        let mut arrays = crate::checkpoint::model_arrays(g);
        for (i, s) in self.states.iter().enumerate() {
            let len = s.count as usize * s.dim as usize;
            arrays.push((format!("adam{i}.m1"), splat_gpu::readback(ctx, &s.m1, len)?));
            arrays.push((format!("adam{i}.m2"), splat_gpu::readback(ctx, &s.m2, len)?));
        }
        let stats = self.density.stats(ctx, self.gaussians.count)?;
        arrays.push((
            "densify_stats".into(),
            stats.into_iter().flatten().collect(),
        ));
        let header = Header {
            step: self.step,
            seed: self.cfg.seed,
            epoch: self.epoch,
            order: self.order.clone(),
            count: self.gaussians.count,
            sh_degree: self.gaussians.sh_degree,
            adam_steps: self.states.iter().map(|s| s.step).collect(),
            elapsed_s: 0.0,
            settings: None,
            arrays: Vec::new(),
        };
        Ok(Checkpoint::from_arrays(header, arrays))
    }

    /// Continues from `c` (a checkpoint of a run with the same data and settings).
    pub fn restore(&mut self, c: &Checkpoint) -> Result<(), TrainError> {
        let bad =
            |m: String| TrainError::Data(format!("checkpoint at step {}: {m}", c.header.step));
        let h = &c.header;
        if h.sh_degree != self.gaussians.sh_degree {
            return Err(bad(format!(
                "SH degree {} but this run trains degree {}",
                h.sh_degree, self.gaussians.sh_degree
            )));
        }
        if h.order.iter().any(|&v| v >= self.train.len()) || h.adam_steps.len() != 8 {
            return Err(bad("it was made on other data".into()));
        }
        let get = |name: &str| {
            c.array(name)
                .ok_or_else(|| bad(format!("no array '{name}'")))
        };
        let n = h.count as usize;
        let g = c.model().map_err(|e| bad(e.message))?;
        let ctx = self.ctx;
        let mut gaussians = GpuGaussians::upload(ctx, &g)?;
        // The degree the checkpoint's last step trained, so that evaluating right after a
        // restore renders as the run did at that step.
        gaussians.set_active_sh_degree(
            h.step
                .checked_sub(1)
                .map_or(0, |s| self.sh_degree_during(s)),
        );
        let mut states = gaussians
            .param_groups(&self.grads)
            .map(|p| p.adam_state(ctx));
        for (i, s) in states.iter_mut().enumerate() {
            let len = s.count as usize * s.dim as usize;
            let m1 = get(&format!("adam{i}.m1"))?;
            let m2 = get(&format!("adam{i}.m2"))?;
            if m1.len() != len || m2.len() != len {
                return Err(bad(format!(
                    "Adam moments of group {i} have the wrong size"
                )));
            }
            s.m1 = splat_gpu::storage_buffer(ctx, "adam m1", m1);
            s.m2 = splat_gpu::storage_buffer(ctx, "adam m2", m2);
            s.step = h.adam_steps[i];
        }
        let stats: Vec<[f32; 4]> = get("densify_stats")?
            .chunks_exact(4)
            .map(|c| [c[0], c[1], c[2], c[3]])
            .collect();
        if stats.len() != n {
            return Err(bad("densification statistics have the wrong size".into()));
        }
        self.density.set_stats(ctx, &stats);
        self.gaussians = gaussians;
        self.states = states;
        self.step = h.step;
        self.epoch = h.epoch;
        self.order = h.order.clone();
        Ok(())
    }
}
