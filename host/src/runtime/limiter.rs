//! One memory budget per run. wasmtime's `StoreLimits` caps each linear
//! memory on its own, so a component with ten core instances could hold ten
//! times `memory_mib`; a device sized for the limit would meet the OOM
//! killer instead. This limiter counts every memory and every table of the
//! run against the one budget, and keeps `StoreLimits` for the rest (counts
//! of instances, tables and memories, elements per table).

use wasmtime::{ResourceLimiter, StoreLimits};

/// Bytes a table element costs the host (a pointer, in wasmtime).
const TABLE_ELEMENT_BYTES: usize = std::mem::size_of::<usize>();

/// The store's limiter: [`StoreLimits`] plus the run-wide budget.
pub(crate) struct RunLimiter {
    inner: StoreLimits,
    /// What all memories and tables of the run may use together.
    budget: usize,
    /// What they were allowed to grow to so far.
    used: usize,
}

impl RunLimiter {
    /// `inner` should trap on a failed grow (so that the reason names the
    /// limit); `budget` is the run's `memory_bytes`.
    pub(crate) fn new(inner: StoreLimits, budget: usize) -> Self {
        Self {
            inner,
            budget,
            used: 0,
        }
    }

    /// Takes `extra` bytes from the budget, or says why not.
    fn take(&mut self, extra: usize, what: &str) -> wasmtime::Result<()> {
        let total = self.used.saturating_add(extra);
        if total > self.budget {
            wasmtime::bail!(
                "memory limit exceeded: growing a {what} would bring this run's memories and \
                 tables to {} MiB, over its {} MiB limit",
                total.div_ceil(1 << 20),
                self.budget >> 20
            );
        }
        self.used = total;
        Ok(())
    }
}

impl ResourceLimiter for RunLimiter {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let allowed = self.inner.memory_growing(current, desired, maximum)?;
        if allowed {
            self.take(desired.saturating_sub(current), "memory")?;
        }
        Ok(allowed)
    }

    fn memory_grow_failed(&mut self, error: wasmtime::Error) -> wasmtime::Result<()> {
        self.inner.memory_grow_failed(error)
    }

    fn table_growing(
        &mut self,
        current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let allowed = self.inner.table_growing(current, desired, maximum)?;
        if allowed {
            let extra = desired.saturating_sub(current);
            self.take(extra.saturating_mul(TABLE_ELEMENT_BYTES), "table")?;
        }
        Ok(allowed)
    }

    fn table_grow_failed(&mut self, error: wasmtime::Error) -> wasmtime::Result<()> {
        self.inner.table_grow_failed(error)
    }

    fn instances(&self) -> usize {
        self.inner.instances()
    }

    fn tables(&self) -> usize {
        self.inner.tables()
    }

    fn memories(&self) -> usize {
        self.inner.memories()
    }
}

#[cfg(test)]
mod tests {
    use crate::runtime::test_support::store as test_store;
    use crate::runtime::{ExecutionLimits, Runtime, Sandbox};
    use wasmtime::component::Component;

    /// A component of `instances` core instances, each with its own 4 MiB
    /// memory, all created at instantiation.
    fn component(runtime: &Runtime, instances: usize) -> Component {
        let wat = format!(
            "(component (core module $m (memory 64)) {})",
            "(core instance (instantiate $m)) ".repeat(instances)
        );
        let wasm = wat::parse_str(&wat).expect("the test component parses");
        Component::new(&runtime.engine, wasm).expect("the test component compiles")
    }

    async fn instantiate(instances: usize) -> wasmtime::Result<()> {
        let limits = ExecutionLimits {
            memory_bytes: 16 << 20,
            ..ExecutionLimits::default()
        };
        let (runtime, mut store) = test_store(&Sandbox::empty(), &limits);
        let component = component(&runtime, instances);
        runtime
            .linker
            .instantiate_async(&mut store, &component)
            .await
            .map(drop)
    }

    #[tokio::test]
    async fn memories_together_are_held_to_the_runs_budget() {
        // 3 × 4 MiB fit a 16 MiB run; 5 × 4 MiB do not, though each memory
        // alone is far under the limit.
        instantiate(3).await.expect("12 MiB fits");
        let error = instantiate(5).await.expect_err("20 MiB is over the limit");
        let message = format!("{error:#}");
        assert!(message.contains("over its 16 MiB limit"), "{message}");
    }
}
