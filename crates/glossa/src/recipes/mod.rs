//! Whole jobs: each recipe is a short list of named stages around a [`run::Run`], and the only
//! place that assembles the full [`config::Config`].

pub mod classify;
pub mod config;
pub mod distill;
pub mod model_card;
pub mod run;
pub mod sources;
pub mod students;
pub mod teacher;
