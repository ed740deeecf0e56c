//! Limits from the AWS IoT API reference: `document` of CreateJob
//! (<https://docs.aws.amazon.com/iot/latest/apireference/API_CreateJob.html>),
//! `jobId` and `statusDetails` of JobExecution
//! (<https://docs.aws.amazon.com/iot/latest/apireference/API_iot-jobs-data_JobExecution.html>).
//! The agent enforces them itself so that AWS never has to reject an update.

/// Maximum size of a job document, in bytes ("Max 32 KB", CreateJob).
pub const MAX_JOB_DOCUMENT_BYTES: usize = 32 * 1024;

/// Maximum length of a job id, in characters.
pub const MAX_JOB_ID_CHARS: usize = 64;

/// Maximum length of a statusDetails key, in characters (`DetailsKey`).
pub const STATUS_DETAIL_KEY_MAX: usize = 128;

/// Maximum length of a statusDetails value, in characters (`DetailsValue`).
pub const STATUS_DETAIL_VALUE_MAX: usize = 1024;
