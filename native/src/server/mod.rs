//! The native node (`heterodyne serve`, in progress): durable job and share state
//! ([`store`]). The HTTP layer, the worker pool and the routes come next.

pub mod store;
