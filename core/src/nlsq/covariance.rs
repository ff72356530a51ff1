//! Standard errors with honest rank detection.
//!
//! The covariance is `s²·(JᵀWJ)⁺` with `s² = χ²/(n_cells − P)`, where `n_cells` counts
//! independent cells: c2 is symmetric, so the mirrored triangle carries no new
//! information (the reference counts both triangles, which halves every variance).
//! The pseudo-inverse is taken on the column-scaled matrix `D⁻¹JᵀWJD⁻¹` (unit diagonal);
//! eigen-directions below `NULL_RCOND`·λ_max are directions the data do not determine. A
//! parameter with a component along such a direction gets no standard error (`None`),
//! never a tiny pseudo-inverse number, and the direction is reported as a
//! [`Degeneracy`], naming the identified combination when it is the model's known one:
//! f0 and f2 enter only through `f0·exp(−f1·f2)`.

use nalgebra::{DMatrix, DVector, SymmetricEigen};
use serde::{Deserialize, Serialize};

/// Relative eigenvalue below which a scaled direction counts as unidentified: a few
/// hundred ulps, i.e. null to working precision. Near-degeneracies above it (D0 vs
/// D_offset when α ≈ 0) keep their large, honest errors.
pub const NULL_RCOND: f64 = 1e-15;
/// An eigen-direction aligned with the model's known f0–f2 ridge counts as null below
/// this relative eigenvalue, even when roundoff lifts it above [`NULL_RCOND`].
const KNOWN_RIDGE_RCOND: f64 = 1e-9;
/// Squared null-space component above which a parameter counts as unidentified.
const NULL_COMPONENT: f64 = 1e-6;

/// A direction in parameter space the data do not determine.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Degeneracy {
    /// Parameters involved.
    pub parameters: Vec<String>,
    /// The identified combination, if known (e.g. `f0·exp(−f1·f2)`).
    pub combination: Option<String>,
    /// Its value.
    pub value: Option<f64>,
    /// Its standard error.
    pub std_error: Option<f64>,
    /// A sentence for the user.
    pub message: String,
}

/// Covariance, standard errors and degeneracies of a fit.
#[derive(Debug, Clone, PartialEq)]
pub struct Uncertainty {
    /// P×P row-major covariance from the pseudo-inverse (entries of unidentified
    /// parameters are meaningless and should not be shown).
    pub covariance: Vec<f64>,
    /// Standard error per parameter; `None` where the data do not determine it.
    pub std_error: Vec<Option<f64>>,
    /// Unidentified directions.
    pub degeneracies: Vec<Degeneracy>,
    /// Residual variance scale s².
    pub s2: f64,
}

/// Computes the uncertainty of `x` from JᵀWJ (`jtj`, P×P), χ² and the independent cell
/// count. `names` name the entries of `x`.
pub fn uncertainty(
    jtj: &[f64],
    chi2: f64,
    n_cells: usize,
    x: &[f64],
    names: &[String],
) -> Uncertainty {
    let p = x.len();
    let dof = n_cells.saturating_sub(p).max(1);
    let s2 = chi2 / dof as f64;
    let d: Vec<f64> = (0..p).map(|k| jtj[k * p + k].sqrt()).collect();
    let informed: Vec<usize> = (0..p).filter(|&k| d[k] > 0.0 && d[k].is_finite()).collect();
    let nf = informed.len();
    let a = DMatrix::from_fn(nf, nf, |u, v| {
        let (ku, kv) = (informed[u], informed[v]);
        jtj[ku * p + kv] / (d[ku] * d[kv])
    });
    let lmax = SymmetricEigen::new(a.clone())
        .eigenvalues
        .iter()
        .cloned()
        .fold(0.0, f64::max);
    // The known exact ridge: δf0 = f0·f1·δf2 keeps f0·exp(−f1·f2) fixed. It is removed
    // analytically (the complement basis below) rather than found among the small
    // eigenvalues, where it would mix with near-degenerate directions.
    let index = |name: &str| names.iter().position(|n| n == name);
    let pos = |k: usize| informed.iter().position(|&i| i == k);
    let ridge: Option<DVector<f64>> = match (index("f0"), index("f1"), index("f2")) {
        (Some(k0), Some(k1), Some(k2)) => match (pos(k0), pos(k2)) {
            (Some(u0), Some(u2)) => {
                let mut r = DVector::zeros(nf);
                r[u0] = x[k0] * x[k1] * d[k0];
                r[u2] = d[k2];
                let norm = r.norm();
                (norm > 0.0)
                    .then(|| r / norm)
                    .filter(|r| (r.transpose() * &a * r)[(0, 0)] <= KNOWN_RIDGE_RCOND * lmax)
            }
            _ => None,
        },
        _ => None,
    };
    // Orthonormal basis of the space the data can inform.
    let basis: DMatrix<f64> = match &ridge {
        Some(r) => {
            let mut m = DMatrix::zeros(nf, nf + 1);
            m.set_column(0, r);
            for u in 0..nf {
                m[(u, u + 1)] = 1.0;
            }
            let q = m.qr().q();
            q.columns(1, nf - 1).into_owned()
        }
        None => DMatrix::identity(nf, nf),
    };
    let b = basis.transpose() * &a * &basis;
    let eig = SymmetricEigen::new(b);
    let mut null_dirs: Vec<DVector<f64>> = ridge.iter().cloned().collect();
    let mut pinv = DMatrix::<f64>::zeros(nf, nf);
    for i in 0..eig.eigenvalues.len() {
        let lam = eig.eigenvalues[i];
        let dir = &basis * eig.eigenvectors.column(i);
        if lam <= NULL_RCOND * lmax {
            null_dirs.push(dir);
        } else {
            pinv += &dir * dir.transpose() / lam;
        }
    }
    let mut covariance = vec![0.0; p * p];
    for u in 0..nf {
        for v in 0..nf {
            let (ku, kv) = (informed[u], informed[v]);
            covariance[ku * p + kv] = s2 * pinv[(u, v)] / (d[ku] * d[kv]);
        }
    }
    let mut std_error: Vec<Option<f64>> = vec![None; p];
    for (u, &k) in informed.iter().enumerate() {
        let null_part: f64 = null_dirs.iter().map(|dir| dir[u].powi(2)).sum();
        if null_part <= NULL_COMPONENT {
            std_error[k] = Some(covariance[k * p + k].max(0.0).sqrt());
        }
    }
    let mut degeneracies = Vec::new();
    for k in (0..p).filter(|k| !informed.contains(k)) {
        degeneracies.push(Degeneracy {
            parameters: vec![names[k].clone()],
            combination: None,
            value: None,
            std_error: None,
            message: format!(
                "{} has no effect on the model at the fitted values",
                names[k]
            ),
        });
    }
    for dir in &null_dirs {
        // Same threshold as for withholding a standard error, so every parameter left
        // without one is named.
        let involved: Vec<usize> = (0..nf)
            .filter(|&u| dir[u].powi(2) > NULL_COMPONENT)
            .map(|u| informed[u])
            .collect();
        let inv_names: Vec<String> = involved.iter().map(|&k| names[k].clone()).collect();
        let is = |set: &[&str]| {
            inv_names.len() == set.len() && set.iter().all(|s| inv_names.iter().any(|n| n == s))
        };
        let mut deg = Degeneracy {
            parameters: inv_names.clone(),
            combination: None,
            value: None,
            std_error: None,
            message: format!(
                "{} are not separately determined by the data; only combinations across this direction are",
                inv_names.join(", ")
            ),
        };
        let velocity_only = !inv_names.is_empty()
            && inv_names.iter().any(|n| n == "phi0")
            && inv_names
                .iter()
                .all(|n| matches!(n.as_str(), "v0" | "v_offset" | "phi0"));
        if velocity_only {
            deg.message = format!(
                "{} enter the model only through the projected velocity cos(φ + phi0)·v(t): with a single angle (or angles symmetric about the flow) their separate values are not determined (std_error null)",
                inv_names.join(", ")
            );
        }
        if is(&["f0", "f2"]) {
            // f0·exp(−f1·f2); its gradient is orthogonal to the null direction, so the
            // pseudo-inverse variance is the real one.
            let (i0, i2) = (index("f0"), index("f2"));
            if let (Some(i0), Some(i2)) = (i0, i2) {
                let i1 = index("f1");
                let f1 = i1.map_or(f64::NAN, |k| x[k]);
                if f1.is_finite() {
                    let e = (-f1 * x[i2]).exp();
                    let value = x[i0] * e;
                    let mut grad = vec![0.0; p];
                    grad[i0] = e;
                    grad[i2] = -f1 * x[i0] * e;
                    if let Some(k1) = i1 {
                        grad[k1] = -x[i2] * x[i0] * e;
                    }
                    let mut var = 0.0;
                    for u in 0..p {
                        for v in 0..p {
                            var += grad[u] * covariance[u * p + v] * grad[v];
                        }
                    }
                    let se = var.max(0.0).sqrt();
                    deg.combination = Some("f0·exp(−f1·f2)".into());
                    deg.value = Some(value);
                    deg.std_error = Some(se);
                    deg.message = format!(
                        "f0 and f2 enter the model only through f0·exp(−f1·f2) = {value:.6} ± {se:.2e}; their separate values are not determined (std_error null)"
                    );
                }
            }
        }
        degeneracies.push(deg);
    }
    Uncertainty {
        covariance,
        std_error,
        degeneracies,
        s2,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_ridge_gets_no_error_but_its_combination_does() {
        // Columns: a, b = 2a (a ridge), c independent.
        let rows = [
            [1.0, 2.0, 0.5],
            [0.5, 1.0, 1.0],
            [2.0, 4.0, -1.0],
            [1.5, 3.0, 0.0],
        ];
        let mut jtj = vec![0.0; 9];
        for r in &rows {
            for u in 0..3 {
                for v in 0..3 {
                    jtj[u * 3 + v] += r[u] * r[v];
                }
            }
        }
        let names: Vec<String> = ["f0", "f2", "c"].iter().map(|s| s.to_string()).collect();
        let u = uncertainty(&jtj, 2.0, 10, &[0.5, 1.0, 3.0], &names);
        assert_eq!(u.std_error[0], None);
        assert_eq!(u.std_error[1], None);
        assert!(u.std_error[2].is_some());
        assert_eq!(u.degeneracies.len(), 1);
        assert_eq!(u.degeneracies[0].parameters.len(), 2);
    }
}
