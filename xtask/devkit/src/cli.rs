//! The command line of the tool binaries: options only, each `--flag value` or `--flag=value`,
//! and `--help`. Each tool keeps its own flags, defaults and checks; the walk over the
//! arguments, the usage/exit-code conventions and the runtime live here.

/// What the command line asked for: run with this configuration, or print the usage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command<C> {
    Run(C),
    Help,
}

/// Walks the arguments after the program name. For each flag, `on_flag(flag, value)` takes
/// the flag's value by calling `value()` (the `=value` part, or else the next argument) and
/// answers an error for a flag it does not know ([`unknown`]). `--help` or `-h` ends the walk
/// with [`Command::Help`]. Errors are one line, meant for stderr.
pub fn parse_flags<I, S>(
    args: I,
    mut on_flag: impl FnMut(&str, &mut dyn FnMut() -> Result<String, String>) -> Result<(), String>,
) -> Result<Command<()>, String>
where
    I: IntoIterator<Item = S>,
    S: Into<String>,
{
    let mut it = args.into_iter().map(Into::into);
    while let Some(arg) = it.next() {
        let (flag, inline) = match arg.split_once('=') {
            Some((f, v)) if f.starts_with("--") => (f.to_string(), Some(v.to_string())),
            _ => (arg, None),
        };
        if flag == "--help" || flag == "-h" {
            return Ok(Command::Help);
        }
        // Taken only when the flag asks for it, so an unknown flag is reported as unknown,
        // not as missing a value.
        let mut inline = inline;
        let mut value = || match inline.take() {
            Some(v) => Ok(v),
            None => it.next().ok_or_else(|| format!("{flag} needs a value")),
        };
        on_flag(&flag, &mut value)?;
    }
    Ok(Command::Run(()))
}

/// The error for a flag the tool does not have.
pub fn unknown(flag: &str) -> String {
    format!("unknown argument {flag:?} (see --help)")
}

/// The `main` of a tool binary: prints the usage for `--help`; for a bad command line, one
/// line on stderr and exit code 2; otherwise runs the server on a small runtime and exits 1
/// (with its one-line error) when it fails.
#[cfg(feature = "serve")]
pub fn serve<C, F>(
    name: &str,
    usage: &str,
    command: Result<Command<C>, String>,
    run: impl FnOnce(C) -> F,
) -> std::process::ExitCode
where
    F: std::future::Future<Output = Result<(), String>>,
{
    use std::process::ExitCode;
    let config = match command {
        Ok(Command::Run(c)) => c,
        Ok(Command::Help) => {
            println!("{usage}");
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("{name}: {e}");
            return ExitCode::from(2);
        }
    };
    // Two workers are plenty for a local tool on a small machine.
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("{name}: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(run(config));
    // The server has shut down as it promises; what is still in flight (a webhook delivery,
    // a pooled connection's task) is abandoned, not awaited.
    runtime.shutdown_background();
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{name}: {e}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A tool with one flag, `--name`, recording what it was given.
    fn parse(args: &[&str]) -> Result<(Command<()>, Vec<String>), String> {
        let mut names = Vec::new();
        let command = parse_flags(args.iter().copied(), |flag, value| {
            match flag {
                "--name" => names.push(value()?),
                other => return Err(unknown(other)),
            }
            Ok(())
        })?;
        Ok((command, names))
    }

    #[test]
    fn takes_values_in_both_forms_and_in_order() {
        let (command, names) = parse(&["--name", "a", "--name=b=c", "--name="]).unwrap();
        assert_eq!(command, Command::Run(()));
        assert_eq!(names, ["a", "b=c", ""]);
    }

    #[test]
    fn help_wins_wherever_it_stands() {
        assert_eq!(parse(&["--name", "a", "-h"]).unwrap().0, Command::Help);
        assert_eq!(parse(&["--help", "--bogus"]).unwrap().0, Command::Help);
        assert_eq!(parse(&["--help=x"]).unwrap().0, Command::Help);
    }

    #[test]
    fn says_what_is_wrong() {
        assert_eq!(parse(&["--name"]).unwrap_err(), "--name needs a value");
        // An unknown flag is named as unknown, even with no value after it.
        assert_eq!(
            parse(&["--bogus"]).unwrap_err(),
            "unknown argument \"--bogus\" (see --help)"
        );
        assert!(parse(&["stray"]).unwrap_err().contains("\"stray\""));
        // A value that looks like a flag is still a value.
        assert_eq!(parse(&["--name", "--help"]).unwrap().1, ["--help"]);
    }
}
