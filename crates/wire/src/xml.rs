//! Just enough XML writing for awsQuery responses.

pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
    out
}

/// Builds an element tree as text.
#[derive(Default)]
pub struct Xml(String);

impl Xml {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn leaf(&mut self, name: &str, value: &str) -> &mut Self {
        self.0.push_str(&format!("<{name}>{}</{name}>", escape(value)));
        self
    }

    pub fn opt_leaf(&mut self, name: &str, value: Option<&str>) -> &mut Self {
        if let Some(v) = value {
            self.leaf(name, v);
        }
        self
    }

    pub fn node(&mut self, name: &str, inner: impl FnOnce(&mut Xml)) -> &mut Self {
        self.0.push_str(&format!("<{name}>"));
        inner(self);
        self.0.push_str(&format!("</{name}>"));
        self
    }

    /// `<name><member>..</member>...</name>`
    pub fn members<T>(&mut self, name: &str, items: &[T], each: impl Fn(&mut Xml, &T)) -> &mut Self {
        self.node(name, |x| {
            for i in items {
                x.node("member", |m| each(m, i));
            }
        })
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

/// The whole awsQuery success document.
pub fn response(action: &str, namespace: &str, result: Option<String>, request_id: &str) -> String {
    let mut body = format!("<{action}Response xmlns=\"{namespace}\">");
    if let Some(r) = result {
        body.push_str(&format!("<{action}Result>{r}</{action}Result>"));
    }
    body.push_str(&format!(
        "<ResponseMetadata><RequestId>{request_id}</RequestId></ResponseMetadata></{action}Response>"
    ));
    body
}

pub fn error(namespace: &str, code: &str, message: &str, status: u16, request_id: &str) -> String {
    let kind = if status >= 500 { "Receiver" } else { "Sender" };
    format!(
        "<ErrorResponse xmlns=\"{namespace}\"><Error><Type>{kind}</Type><Code>{}</Code><Message>{}</Message></Error><RequestId>{request_id}</RequestId></ErrorResponse>",
        escape(code),
        escape(message)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_and_nests() {
        let mut x = Xml::new();
        x.node("User", |u| {
            u.leaf("UserName", "a<b&c");
        });
        assert_eq!(x.into_string(), "<User><UserName>a&lt;b&amp;c</UserName></User>");
    }
}
