//! The managed templates: AWS's documents, substitution, parameter checks
//! and lookup by ARN or name.
#![allow(clippy::unwrap_used)] // test code: a panic is the failure report

use super::*;

fn params(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

#[test]
fn documents_are_aws_documents() {
    // DescribeManagedJobTemplate's `document` for AWS-Download-File,
    // verbatim from AWS's developer guide.
    let aws = r#"{"version":"1.0","steps":[{"action":{"name":"Download-File","type":"runHandler","input":{"handler":"download-file.sh","args":["${aws:iot:parameter:downloadUrl}","${aws:iot:parameter:filePath}"],"path":"${aws:iot:parameter:pathToHandler}"},"runAsUser":"${aws:iot:parameter:runAsUser}"}}]}"#;
    let aws: Value = serde_json::from_str(aws).unwrap();
    assert_eq!(find("AWS-Download-File").unwrap().raw_document(), aws);
    assert_eq!(
        find("AWS-Reboot").unwrap().raw_document(),
        json!({"version": "1.0", "steps": [{"action": {"name": "Reboot", "type": "runHandler",
            "input": {"handler": "reboot.sh", "path": "${aws:iot:parameter:pathToHandler}"},
            "runAsUser": "${aws:iot:parameter:runAsUser}"}}]})
    );
    assert_eq!(
        find("AWS-Run-Command").unwrap().raw_document(),
        json!({"version": "1.0", "steps": [{"action": {"name": "Run-Command", "type": "runCommand",
            "input": {"command": "${aws:iot:parameter:command}"},
            "runAsUser": "${aws:iot:parameter:runAsUser}"}}]})
    );
    let install = find("AWS-Install-Application").unwrap().raw_document();
    assert_eq!(
        install["steps"][0]["action"]["input"],
        json!({"handler": "install-packages.sh", "args": ["${aws:iot:parameter:packages}"],
               "path": "${aws:iot:parameter:pathToHandler}"})
    );
    // Every placeholder names a parameter of its template.
    for t in TEMPLATES {
        let text = t.raw_document().to_string();
        for piece in text.split(PARAMETER_PREFIX).skip(1) {
            let key = &piece[..piece.find('}').unwrap()];
            assert!(
                t.parameters.iter().any(|p| p.key == key),
                "{}: {key}",
                t.name
            );
        }
    }
}

#[test]
fn values_are_substituted_as_string_content() {
    let hostile = "a\"b\\c\n\"}],\"x\":{\"y";
    let doc = find("AWS-Download-File")
        .unwrap()
        .document(&params(&[
            (
                "downloadUrl",
                "${aws:iot:s3-presigned-url:http://h/artifacts/fw.bin}",
            ),
            ("filePath", hostile),
        ]))
        .unwrap();
    let back: Value = serde_json::from_str(&doc.to_string()).unwrap();
    let action = &back["steps"][0]["action"];
    assert_eq!(
        action["input"]["args"],
        json!([
            "${aws:iot:s3-presigned-url:http://h/artifacts/fw.bin}",
            hostile
        ])
    );
    // Unset optional parameters become "".
    assert_eq!(action["input"]["path"], "");
    assert_eq!(action["runAsUser"], "");
    assert_eq!(back.as_object().unwrap().len(), 2, "{back}");

    // A value holding a placeholder is not expanded again.
    let doc = find("AWS-Run-Command")
        .unwrap()
        .document(&params(&[
            ("command", "/bin/echo,${aws:iot:parameter:runAsUser}"),
            ("runAsUser", "root"),
        ]))
        .unwrap();
    let action = &doc["steps"][0]["action"];
    assert_eq!(
        action["input"]["command"],
        "/bin/echo,${aws:iot:parameter:runAsUser}"
    );
    assert_eq!(action["runAsUser"], "root");
}

#[test]
fn parameters_are_checked() {
    let t = find("AWS-Download-File").unwrap();
    let err = |pairs: &[(&str, &str)]| t.document(&params(pairs)).unwrap_err().to_string();
    assert_eq!(
        err(&[("downloadUrl", "u")]),
        "documentParameters: AWS-Download-File needs \"filePath\" (Path on the device where \
         downloaded file is written.)"
    );
    assert_eq!(
        err(&[("downloadUrl", "u"), ("filePath", "f"), ("sha256", "x")]),
        "documentParameters: AWS-Download-File has no parameter \"sha256\" (it takes \
         downloadUrl, filePath, runAsUser, pathToHandler)"
    );
    assert_eq!(
        err(&[("downloadUrl", " "), ("filePath", "f")]),
        "documentParameters: \"downloadUrl\" must not be empty"
    );
    let long = "u".repeat(257);
    assert_eq!(
        err(&[
            ("downloadUrl", "u"),
            ("filePath", "f"),
            ("runAsUser", &long)
        ]),
        "documentParameters: \"runAsUser\" is 257 characters long; at most 256 are allowed"
    );
    assert!(t
        .document(&params(&[
            ("downloadUrl", "u"),
            ("filePath", "f"),
            ("runAsUser", "")
        ]))
        .is_ok());
    let reboot = find("AWS-Reboot").unwrap();
    assert!(reboot.document(&BTreeMap::new()).is_ok());
    let err = find("AWS-Run-Command")
        .unwrap()
        .document(&params(&[("command", "ls"), ("pathToHandler", "/x")]))
        .unwrap_err();
    assert!(
        err.to_string().contains("no parameter \"pathToHandler\""),
        "{err}"
    );
}

#[test]
fn templates_are_found_by_arn_or_name() {
    for reference in [
        "arn:aws:iot:us-east-1::jobtemplate/AWS-Download-File:1.0",
        "arn:aws-cn:iot:cn-north-1::jobtemplate/AWS-Download-File",
        "AWS-Download-File",
        "AWS-Download-File:1.0",
    ] {
        assert_eq!(
            lookup(reference).unwrap().name,
            "AWS-Download-File",
            "{reference}"
        );
    }
    let t = lookup("AWS-Reboot").unwrap();
    assert_eq!(t.arn(), "arn:aws:iot:local::jobtemplate/AWS-Reboot:1.0");
    assert_eq!(lookup(&t.arn()).unwrap().name, "AWS-Reboot");

    let not_found = |r: &str| match lookup(r) {
        Err(TemplateError::NotFound(m)) => m,
        other => panic!("{r}: {other:?}"),
    };
    assert!(not_found("AWS-Format-Disk").starts_with(
        "no managed job template \"AWS-Format-Disk\"; the managed templates are AWS-Download-File,"
    ));
    assert_eq!(
        not_found("AWS-Reboot:2.0"),
        "AWS-Reboot has no version \"2.0\" (only 1.0)"
    );
    assert!(
        not_found("arn:aws:iot:us-east-1:123456789012:jobtemplate/mine")
            .contains("names a custom job template")
    );
    for bad in [
        "arn:aws:iot:us-east-1",
        "arn:aws:iot:us-east-1::job/AWS-Reboot",
        "arn:aws:s3:us-east-1::jobtemplate/AWS-Reboot",
    ] {
        assert!(
            matches!(lookup(bad), Err(TemplateError::Invalid(_))),
            "{bad}"
        );
    }
}

mod custom {
    use super::super::custom::{custom_id, document};
    use super::super::TemplateError;
    use super::params;
    use serde_json::json;
    use std::collections::BTreeMap;

    #[test]
    fn a_reference_names_a_custom_template_by_arn_or_by_a_free_id() {
        for (reference, expected) in [
            (
                "arn:aws:iot:us-east-1:123456789012:jobtemplate/fw-2",
                Some("fw-2"),
            ),
            ("arn:aws:iot:local:000000000000:jobtemplate/x", Some("x")),
            ("fw-2", Some("fw-2")),
            // Managed: by ARN without an account, or by name.
            ("arn:aws:iot:us-east-1::jobtemplate/AWS-Reboot:1.0", None),
            ("AWS-Reboot", None),
            ("AWS-Reboot:1.0", None),
            // Neither: left for `lookup` to refuse.
            ("AWS-Reboot:2.0", None),
            ("not an id", None),
        ] {
            assert_eq!(
                custom_id(reference).unwrap().as_deref(),
                expected,
                "{reference}"
            );
        }
        for bad in [
            "arn:aws:iot:us-east-1:123456789012:jobtemplate/a.b",
            "arn:aws:iot:us-east-1:123456789012:job/fw",
            "arn:aws:s3:us-east-1:123456789012:jobtemplate/fw",
        ] {
            assert!(
                matches!(custom_id(bad), Err(TemplateError::Invalid(_))),
                "{bad}"
            );
        }
    }

    #[test]
    fn parameters_fill_exactly_the_documents_placeholders() {
        let text = r#"{"a":"${aws:iot:parameter:x}-${aws:iot:parameter:y}","b":["${aws:iot:parameter:x}"]}"#;
        let filled = document(
            "t",
            text,
            &params(&[("x", "1"), ("y", "${aws:iot:parameter:x}")]),
        )
        .unwrap()
        .unwrap();
        // One pass: a value holding a placeholder is not expanded again.
        assert_eq!(filled, json!({"a": "1-${aws:iot:parameter:x}", "b": ["1"]}));
        // Nothing to fill: None, so that the text is kept as written.
        assert_eq!(
            document("t", r#"{"a": 1}"#, &BTreeMap::new()).unwrap(),
            None
        );
        let invalid = |text: &str, p: &[(&str, &str)]| match document("t", text, &params(p)) {
            Err(TemplateError::Invalid(m)) => m,
            other => panic!("{other:?}"),
        };
        assert!(invalid(text, &[("x", "1")]).contains("needs \"y\""));
        assert!(invalid(r#"{"a": 1}"#, &[("x", "1")])
            .contains("has no parameter \"x\" (its document has no"));
        assert!(invalid(text, &[("x", "1"), ("y", "2"), ("z", "3")])
            .contains("its document's placeholders are x, y"));
        assert!(invalid(text, &[("x y", "1")]).contains("key \"x y\" must be"));
        let long = "v".repeat(30_721);
        assert!(invalid(text, &[("x", &long), ("y", "2")]).contains("30721 characters"));
    }
}
