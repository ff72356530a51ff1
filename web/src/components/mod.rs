//! The page, one component per file: the app shell and its state ([`app`]), C2 heatmaps
//! with zoom ([`heatmap`]), cuts through them ([`cuts`]), the parameter table
//! ([`params`]), the result tables ([`results`]), a whole result ([`result_view`]), the
//! read-only page of a share link ([`shared`]), the CMC posterior ([`posterior`]) and their shared SVG scaling
//! ([`svg`]).

pub mod app;
pub mod cuts;
pub mod heatmap;
pub mod params;
pub mod posterior;
pub mod result_view;
pub mod results;
pub mod shared;
pub mod svg;
