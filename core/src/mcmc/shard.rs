//! Splitting a fit problem's cells into shards for Consensus Monte Carlo. The unit is a
//! matrix row of one angle (its cells stay contiguous, which keeps the row recurrences
//! of the likelihood); the assignment depends on the data size and the seed only.

use crate::error::{Error, Result};
use crate::nlsq::FitProblem;

/// How rows are dealt to shards.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub enum ShardStrategy {
    /// Row k goes to shard k mod K: every shard sees every angle and the whole time
    /// range (angle-balanced).
    #[default]
    Stride,
    /// Rows shuffled with the seed, then dealt in turn.
    Random,
    /// Consecutive blocks of rows (each shard a stretch of one or more angles).
    Contiguous,
}

/// Row indices of each of `k` shards.
pub fn shard_rows(
    n_rows: usize,
    k: usize,
    strategy: ShardStrategy,
    seed: u64,
) -> Result<Vec<Vec<usize>>> {
    if k == 0 {
        return Err(Error::invalid("num_shards", "must be ≥ 1"));
    }
    if k > n_rows {
        return Err(Error::invalid(
            "num_shards",
            format!("{k} shards for {n_rows} rows of cells: at most one shard per row"),
        ));
    }
    let order: Vec<usize> = match strategy {
        ShardStrategy::Stride | ShardStrategy::Contiguous => (0..n_rows).collect(),
        ShardStrategy::Random => {
            use rand_chacha::ChaCha8Rng;
            use rand_core::{RngCore, SeedableRng};
            let mut rng = ChaCha8Rng::seed_from_u64(seed);
            let mut v: Vec<usize> = (0..n_rows).collect();
            for i in (1..n_rows).rev() {
                let j = (rng.next_u64() % (i as u64 + 1)) as usize;
                v.swap(i, j);
            }
            v
        }
    };
    let mut shards = vec![Vec::new(); k];
    match strategy {
        ShardStrategy::Contiguous => {
            for (pos, &r) in order.iter().enumerate() {
                shards[pos * k / n_rows].push(r);
            }
        }
        _ => {
            for (pos, &r) in order.iter().enumerate() {
                shards[pos % k].push(r);
            }
        }
    }
    for s in &mut shards {
        s.sort_unstable();
    }
    Ok(shards)
}

/// The shard problems of `problem`.
pub fn shard_problems(
    problem: &FitProblem,
    k: usize,
    strategy: ShardStrategy,
    seed: u64,
) -> Result<Vec<FitProblem>> {
    shard_rows(problem.n_rows(), k, strategy, seed)?
        .iter()
        .map(|rows| problem.with_rows(rows))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_row_in_exactly_one_shard() {
        for strategy in [
            ShardStrategy::Stride,
            ShardStrategy::Random,
            ShardStrategy::Contiguous,
        ] {
            let shards = shard_rows(103, 4, strategy, 9).expect("shards");
            let mut all: Vec<usize> = shards.iter().flatten().copied().collect();
            all.sort_unstable();
            assert_eq!(all, (0..103).collect::<Vec<_>>(), "{strategy:?}");
            assert!(
                shards.iter().all(|s| (25..=26).contains(&s.len())),
                "{strategy:?}"
            );
        }
        assert!(shard_rows(3, 4, ShardStrategy::Stride, 0).is_err());
        assert!(shard_rows(3, 0, ShardStrategy::Stride, 0).is_err());
    }
}
