//! The CLI's one error type: a message and the process exit code it maps to.

use std::fmt;

/// A CLI failure with its exit code.
#[derive(Debug)]
pub struct CliError {
    code: u8,
    message: String,
}

impl CliError {
    /// Bad input or usage (exit 2).
    pub fn input(message: impl Into<String>) -> Self {
        CliError { code: 2, message: message.into() }
    }

    /// The operation failed on the way (I/O, a service's refusal; exit 1).
    pub fn failed(message: impl Into<String>) -> Self {
        CliError { code: 1, message: message.into() }
    }

    /// The keys do not satisfy the policy (exit 1).
    pub fn not_satisfied(message: impl Into<String>) -> Self {
        CliError { code: 1, message: message.into() }
    }

    /// The process exit code.
    pub fn exit_code(&self) -> u8 {
        self.code
    }
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}
