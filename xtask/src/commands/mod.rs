pub mod bench;
pub mod build_cmd;
pub mod dev;
pub mod new;
pub mod status;
pub mod test;
pub mod token;
pub mod worker;
