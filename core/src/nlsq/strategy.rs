//! Memory strategies for the normal equations and the choice between them.
//!
//! Every strategy forms the same per-row Jacobian blocks and reduces them in the same
//! fixed order (groups of [`ROW_GROUP`] rows, then groups in order), so all give bitwise
//! identical JᵀJ, Jᵀr and χ², whatever the thread count. They differ only in what they
//! keep in memory at once:
//! - `dense` materialises the whole Jacobian (cells × parameters);
//! - `chunked` holds the blocks of about `chunk_size` cells per task;
//! - `streaming` holds one row's block per task.

use serde::{Deserialize, Serialize};

/// Rows reduced together before groups are summed in order.
pub const ROW_GROUP: usize = 8;

/// Requested strategy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Strategy {
    /// Pick by the estimated workspace against the memory budget.
    #[default]
    Auto,
    /// Materialise the whole Jacobian.
    Dense,
    /// Blocks of `chunk_size` cells.
    Chunked,
    /// One row at a time.
    Streaming,
    /// JᵀWJ by separable blocks (`gram.rs`): no Jacobian row per cell; unit weights only.
    /// A point outside its form (several segments) is evaluated `chunked`.
    Separable,
}

impl Strategy {
    /// The config spelling.
    pub fn name(self) -> &'static str {
        match self {
            Strategy::Auto => "auto",
            Strategy::Dense => "dense",
            Strategy::Chunked => "chunked",
            Strategy::Streaming => "streaming",
            Strategy::Separable => "separable",
        }
    }
}

/// Workspace in bytes of `strategy` for `n_cells` cells, `n_params` parameters,
/// `chunk_size` cells per chunk and `n_rows` matrix rows, with `threads` workers.
pub fn workspace(
    strategy: Strategy,
    n_cells: usize,
    n_rows: usize,
    n_params: usize,
    chunk_size: usize,
    threads: usize,
) -> usize {
    let per_cell = (n_params + 1) * 8;
    let groups = n_rows.div_ceil(ROW_GROUP);
    let partials = groups * (n_params * n_params + n_params + 4) * 8;
    let longest_row = if n_rows == 0 {
        0
    } else {
        n_cells.div_ceil(n_rows) * 2
    };
    partials
        + match strategy {
            Strategy::Dense | Strategy::Auto => n_cells * per_cell,
            Strategy::Chunked => threads * chunk_size.max(longest_row) * per_cell,
            Strategy::Streaming => threads * ROW_GROUP * longest_row * per_cell,
            // The sweep's R×R sums per column block (two per block), and the row-sum pass.
            Strategy::Separable => {
                let r = super::gram::MAX_TERMS;
                let blocks = n_cells
                    .div_ceil(longest_row.max(1))
                    .div_ceil(super::gram::BLOCK);
                2 * blocks.max(1) * r * r * 8 + threads * 64 * longest_row * 8
            }
        }
}

/// `auto`: separable where the problem allows it (`separable`: unit weights, full
/// rows); else dense while the Jacobian takes at most a quarter of `budget_bytes` (and
/// 256 MiB), chunked while its chunks fit a quarter of the budget, else streaming.
#[allow(clippy::too_many_arguments)]
pub fn choose(
    requested: Strategy,
    separable: bool,
    n_cells: usize,
    n_rows: usize,
    n_params: usize,
    chunk_size: usize,
    threads: usize,
    budget_bytes: usize,
) -> Strategy {
    match requested {
        // Asked for separable where it cannot apply: the per-cell choice.
        Strategy::Separable if !separable => {}
        Strategy::Auto if separable => return Strategy::Separable,
        Strategy::Auto => {}
        other => return other,
    }
    let quarter = budget_bytes / 4;
    let fits = |s| workspace(s, n_cells, n_rows, n_params, chunk_size, threads) <= quarter;
    if fits(Strategy::Dense)
        && workspace(
            Strategy::Dense,
            n_cells,
            n_rows,
            n_params,
            chunk_size,
            threads,
        ) <= 256 << 20
    {
        Strategy::Dense
    } else if fits(Strategy::Chunked) {
        Strategy::Chunked
    } else {
        Strategy::Streaming
    }
}
