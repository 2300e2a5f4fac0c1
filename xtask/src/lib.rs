//! genbase tooling as a library, so the end-to-end tests reuse the same stack and token code.

pub mod build;
pub mod bundle;
pub mod cpu;
pub mod gpu_worker;
pub mod keys;
pub mod openapi;
pub mod paths;
pub mod pgcron;
pub mod pgrpc;
pub mod phases;
pub mod postgres;
pub mod process;
pub mod registry;
pub mod scaffold;
pub mod sqlbench;
pub mod stack;
pub mod tools;
pub mod unused_pub;
pub mod users;
