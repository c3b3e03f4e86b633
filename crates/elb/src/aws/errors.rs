//! AWS errors as abshift's: which codes mean "try again", "not allowed" (naming
//! the IAM action the call needs) or "who are you", decided on plain values so
//! that the rules are unit-tested without the SDK.

use aws_sdk_ec2::config::http::HttpResponse;
use aws_sdk_ec2::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};

use crate::error::ElbError;

/// An error and its sources on one line, without the SDK's debug dumps.
pub(super) fn chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        let text = c.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        cur = c.source();
    }
    one_line(&out)
}

fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The error codes AWS uses for "try again later".
const THROTTLING_CODES: &[&str] = &[
    "Throttling",
    "ThrottlingException",
    "ThrottledException",
    "RequestLimitExceeded",
    "RequestThrottled",
    "RequestThrottledException",
    "TooManyRequestsException",
    "SlowDown",
    "ServiceUnavailable",
    "InternalError",
    "InternalFailure",
];

const DENIED_CODES: &[&str] = &[
    "AccessDenied",
    "AccessDeniedException",
    "UnauthorizedOperation",
    "UnauthorizedAccess",
];

/// The caller is not who it claims to be: a credentials problem, not IAM policy.
const REJECTED_CODES: &[&str] = &[
    "AuthFailure",
    "InvalidClientTokenId",
    "InvalidAccessKeyId",
    "SignatureDoesNotMatch",
    "ExpiredToken",
    "ExpiredTokenException",
    "RequestExpired",
];

/// Maps an SDK error to ours; `action` is the IAM action the call needs.
pub(super) fn classify<E>(action: &'static str, err: SdkError<E, HttpResponse>) -> ElbError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    let transport = match &err {
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) => Transport::Failed,
        SdkError::ConstructionFailure(_) => Transport::NotSent,
        _ => Transport::Answered,
    };
    decide(
        action,
        err.code(),
        err.message(),
        err.raw_response().map(|r| r.status().as_u16()),
        transport,
        &one_line(&DisplayErrorContext(&err).to_string()),
    )
}

/// How far a failed call got.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Transport {
    /// The service answered (with an error).
    Answered,
    /// No answer: connection, timeout.
    Failed,
    /// Never sent: typically no credentials or no region.
    NotSent,
}

/// The decision behind [`classify`], on plain values so it can be unit-tested.
pub(super) fn decide(
    action: &'static str,
    code: Option<&str>,
    message: Option<&str>,
    status: Option<u16>,
    transport: Transport,
    full_text: &str,
) -> ElbError {
    let message = message
        .map(str::to_string)
        .or_else(|| code.map(str::to_string))
        .unwrap_or_else(|| full_text.to_string());
    if let Some(code) = code {
        if DENIED_CODES.contains(&code) {
            return ElbError::AccessDenied { action, message };
        }
        if REJECTED_CODES.contains(&code) {
            return ElbError::CredentialsRejected { action, message };
        }
        if THROTTLING_CODES.contains(&code) {
            return ElbError::Transient { action, message };
        }
    }
    let mentions_credentials = full_text.to_ascii_lowercase().contains("credential");
    match (transport, status) {
        (_, Some(403)) => ElbError::AccessDenied { action, message },
        (_, Some(s)) if s == 429 || s >= 500 => ElbError::Transient { action, message },
        (Transport::Failed | Transport::NotSent, _) if mentions_credentials => {
            ElbError::NoCredentials {
                action,
                message: full_text.to_string(),
            }
        }
        (Transport::Failed, _) => ElbError::Transient {
            action,
            message: full_text.to_string(),
        },
        _ => ElbError::Aws {
            action,
            message: match code {
                Some(c) if c != message => format!("{c}: {message}"),
                _ => message,
            },
        },
    }
}

pub(super) fn is_code<E: ProvideErrorMetadata>(
    err: &SdkError<E, HttpResponse>,
    codes: &[&str],
) -> bool {
    err.code().is_some_and(|c| codes.contains(&c))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn throttling_and_server_errors_are_transient() {
        for (code, status) in [
            (Some("Throttling"), Some(400)),
            (Some("RequestLimitExceeded"), Some(503)),
            (Some("SlowDown"), Some(503)),
            (None, Some(500)),
            (Some("Whatever"), Some(502)),
            (None, Some(429)),
        ] {
            let e = decide(
                "ec2:DescribeInstances",
                code,
                None,
                status,
                Transport::Answered,
                "",
            );
            assert!(e.is_transient(), "{code:?} {status:?}: {e}");
        }
        let e = decide(
            "x",
            None,
            None,
            None,
            Transport::Failed,
            "connection refused",
        );
        assert!(e.is_transient());
    }

    #[test]
    fn access_denied_names_the_action() {
        let e = decide(
            "elasticloadbalancing:RegisterTargets",
            Some("AccessDenied"),
            Some("User: arn:aws:iam::1:user/x is not authorized"),
            Some(400),
            Transport::Answered,
            "",
        );
        let text = e.to_string();
        assert!(matches!(e, ElbError::AccessDenied { .. }));
        assert!(
            text.contains("elasticloadbalancing:RegisterTargets"),
            "{text}"
        );
        let e = decide(
            "s3:PutObject",
            None,
            None,
            Some(403),
            Transport::Answered,
            "",
        );
        assert!(e.to_string().contains("s3:PutObject"));
        let e = decide(
            "ec2:DescribeInstances",
            Some("UnauthorizedOperation"),
            None,
            Some(403),
            Transport::Answered,
            "",
        );
        assert!(matches!(e, ElbError::AccessDenied { .. }));
    }

    #[test]
    fn rejected_credentials_are_not_called_a_permission_problem() {
        let e = decide(
            "ec2:DescribeInstances",
            Some("InvalidClientTokenId"),
            Some("The security token included in the request is invalid."),
            Some(403),
            Transport::Answered,
            "",
        );
        assert!(matches!(e, ElbError::CredentialsRejected { .. }), "{e}");
        assert!(e.to_string().contains("ec2:DescribeInstances"));
    }

    #[test]
    fn missing_credentials_and_plain_failures() {
        let e = decide(
            "ec2:DescribeInstances",
            None,
            None,
            None,
            Transport::NotSent,
            "failed to load credentials",
        );
        assert!(matches!(e, ElbError::NoCredentials { .. }), "{e}");
        let e = decide(
            "elasticloadbalancing:DescribeTargetGroups",
            Some("ValidationError"),
            Some("bad name"),
            Some(400),
            Transport::Answered,
            "",
        );
        assert!(!e.is_transient());
        assert_eq!(
            e.to_string(),
            "elasticloadbalancing:DescribeTargetGroups failed: ValidationError: bad name"
        );
    }
}
