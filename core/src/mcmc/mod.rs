//! Bayesian uncertainty (issue "Bayesian uncertainty", in progress): convergence
//! diagnostics of MCMC draws. The posterior, the sampler and the consensus combination
//! come next.

pub mod diagnostics;
pub mod nuts;
pub mod posterior;
