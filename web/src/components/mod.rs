//! The page, one component per file: the app shell and its state ([`app`]), C2 heatmaps
//! ([`heatmap`]), cuts through them ([`cuts`]) and the parameter table ([`params`]).

pub mod app;
pub mod cuts;
pub mod heatmap;
pub mod params;
