use anyhow::Result;
use xtask::stack::StackEnv;

/// Like `supabase status -o env`: KEY=VALUE lines for the running dev stack.
pub fn run() -> Result<()> {
    print!("{}", StackEnv::read_dev()?.render());
    Ok(())
}
