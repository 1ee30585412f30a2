//! Recursive-descent parsers for the three expression grammars (conditions, updates, projections).
//!
//! Like DynamoDB, a parser stops at the first syntax error, but semantic problems (an undefined
//! placeholder, a reserved word, a misused function, overlapping paths) are noted as it goes and the one
//! DynamoDB would report first is chosen at the end, by the grammar's priority order.

use std::collections::HashMap;

use super::ast::{Cmp, Condition, Operand, Path, PathElem, SetValue, Update, UpdateOperand};
use super::lex::{Tok, Token};
use super::reserved::is_reserved;
use crate::attr::AttributeValue;

/// The kinds of deferred problems, in no particular order (each grammar ranks them).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Problem {
    Parens,
    UnknownFunction,
    MisusedFunction,
    Reserved,
    Section,
    UndefinedName,
    UndefinedValue,
    Overlap,
    Conflict,
    Operands,
    Distinct,
    Function,
}

pub const CONDITION_PRIORITY: &[Problem] = &[
    Problem::Parens,
    Problem::UnknownFunction,
    Problem::MisusedFunction,
    Problem::Reserved,
    Problem::UndefinedName,
    Problem::UndefinedValue,
    Problem::Operands,
    Problem::Distinct,
    Problem::Function,
];

pub const UPDATE_PRIORITY: &[Problem] = &[
    Problem::Reserved,
    Problem::UnknownFunction,
    Problem::Section,
    Problem::UndefinedName,
    Problem::UndefinedValue,
    Problem::Overlap,
    Problem::Conflict,
    Problem::Operands,
    Problem::Function,
];

pub const PROJECTION_PRIORITY: &[Problem] = &[
    Problem::Reserved,
    Problem::UndefinedName,
    Problem::Overlap,
    Problem::Conflict,
];

/// The token (by index) a syntax error is reported at.
#[derive(Debug, Clone, Copy)]
pub struct Syntax(pub usize);

/// What the placeholders of a request resolve to, and which have been used.
pub struct Substitutions<'s> {
    pub names: &'s HashMap<String, String>,
    pub values: &'s HashMap<String, AttributeValue>,
    pub used_names: &'s mut std::collections::HashSet<String>,
    pub used_values: &'s mut std::collections::HashSet<String>,
}

const CONDITION_FUNCTIONS: [(&str, usize); 6] = [
    ("attribute_exists", 1),
    ("attribute_not_exists", 1),
    ("attribute_type", 2),
    ("begins_with", 2),
    ("contains", 2),
    ("size", 1),
];

const TYPE_NAMES: [&str; 10] = ["S", "SS", "N", "NS", "B", "BS", "BOOL", "NULL", "L", "M"];

/// A function call or operand before it is known where it stands.
enum Term {
    Path(Path),
    Value(AttributeValue),
    Call(String, Vec<Term>),
}

pub struct Parser<'p, 's> {
    src: &'p str,
    toks: Vec<Token>,
    pos: usize,
    subs: &'p mut Substitutions<'s>,
    /// Words that are the grammar's own and never attribute names.
    keywords: &'static [&'static str],
    pub problems: Vec<(Problem, String)>,
    /// Whether the last primary condition was written in parentheses (to spot `((...))`).
    parenthesized: bool,
}

fn operand_type_error(function: &str, type_name: &str) -> String {
    format!(
        "Incorrect operand type for operator or function; operator or function: {function}, operand type: {type_name}"
    )
}

/// `{N:10}`, as DynamoDB shows a literal in its BETWEEN messages.
fn literal(v: &AttributeValue) -> String {
    let shown = match v {
        AttributeValue::S(s) => s.clone(),
        AttributeValue::N(n) => n.to_text(),
        other => other.to_json().to_string(),
    };
    format!("AttributeValue: {{{}:{shown}}}", v.type_name())
}

impl<'p, 's> Parser<'p, 's> {
    pub fn new(
        src: &'p str,
        toks: Vec<Token>,
        subs: &'p mut Substitutions<'s>,
        keywords: &'static [&'static str],
    ) -> Self {
        Parser {
            src,
            toks,
            pos: 0,
            subs,
            keywords,
            problems: Vec::new(),
            parenthesized: false,
        }
    }

    fn note(&mut self, problem: Problem, message: String) {
        self.problems.push((problem, message));
    }

    fn tok(&self) -> &Tok {
        &self.toks[self.pos.min(self.toks.len() - 1)].tok
    }

    fn text(&self, at: usize) -> &'p str {
        self.toks[at.min(self.toks.len() - 1)].text(self.src)
    }

    fn is_punct(&self, p: &str) -> bool {
        matches!(self.tok(), Tok::Punct(q) if *q == p)
    }

    fn eat(&mut self, p: &str) -> bool {
        let hit = self.is_punct(p);
        if hit {
            self.pos += 1;
        }
        hit
    }

    fn expect(&mut self, p: &str) -> Result<(), Syntax> {
        if self.eat(p) {
            Ok(())
        } else {
            Err(Syntax(self.pos))
        }
    }

    fn is_word(&self, word: &str) -> bool {
        *self.tok() == Tok::Word && self.text(self.pos).eq_ignore_ascii_case(word)
    }

    fn is_keyword_at(&self, at: usize) -> bool {
        self.toks.get(at).is_some_and(|t| t.tok == Tok::Word)
            && self.keywords.iter().any(|k| self.text(at).eq_ignore_ascii_case(k))
    }

    pub fn at_end(&self) -> bool {
        *self.tok() == Tok::Eof
    }

    pub fn end(&self) -> Result<(), Syntax> {
        if self.at_end() {
            Ok(())
        } else {
            Err(Syntax(self.pos))
        }
    }

    /// The message for a syntax error at token `at`: the token and the source from the token before it to
    /// the token after it.
    pub fn syntax_message(src: &str, toks: &[Token], at: usize) -> String {
        let at = at.min(toks.len() - 1);
        let bad = &toks[at];
        let token = if bad.tok == Tok::Eof { "<EOF>" } else { bad.text(src) };
        let from = if at > 0 { toks[at - 1].start } else { bad.start };
        let to = match toks.get(at + 1) {
            Some(next) if next.tok != Tok::Eof => next.end,
            _ => bad.end,
        };
        format!("Syntax error; token: \"{token}\", near: \"{}\"", &src[from..to])
    }

    // ---- paths and operands ----

    fn path_element_name(&mut self) -> Result<String, Syntax> {
        match self.tok() {
            Tok::Word if !self.is_keyword_at(self.pos) => {
                let name = self.text(self.pos).to_owned();
                if is_reserved(&name) {
                    self.note(
                        Problem::Reserved,
                        format!("Attribute name is a reserved keyword; reserved keyword: {name}"),
                    );
                }
                self.pos += 1;
                Ok(name)
            }
            Tok::Name => {
                let placeholder = self.text(self.pos).to_owned();
                self.pos += 1;
                match self.subs.names.get(&placeholder) {
                    Some(name) => {
                        let name = name.clone();
                        self.subs.used_names.insert(placeholder);
                        Ok(name)
                    }
                    None => {
                        self.note(
                            Problem::UndefinedName,
                            format!("An expression attribute name used in the document path is not defined; attribute name: {placeholder}"),
                        );
                        Ok(String::new())
                    }
                }
            }
            _ => Err(Syntax(self.pos)),
        }
    }

    pub fn path(&mut self) -> Result<Path, Syntax> {
        let mut elems = vec![PathElem::Name(self.path_element_name()?)];
        loop {
            if self.eat(".") {
                elems.push(PathElem::Name(self.path_element_name()?));
            } else if self.is_punct("[") {
                self.pos += 1;
                if *self.tok() != Tok::Int {
                    return Err(Syntax(self.pos));
                }
                let index = self.text(self.pos).parse::<u32>().map_err(|_| Syntax(self.pos))?;
                self.pos += 1;
                self.expect("]")?;
                elems.push(PathElem::Index(index));
            } else {
                return Ok(Path(elems));
            }
        }
    }

    fn value(&mut self) -> Result<AttributeValue, Syntax> {
        if *self.tok() != Tok::Value {
            return Err(Syntax(self.pos));
        }
        let placeholder = self.text(self.pos).to_owned();
        self.pos += 1;
        match self.subs.values.get(&placeholder) {
            Some(v) => {
                let v = v.clone();
                self.subs.used_values.insert(placeholder);
                Ok(v)
            }
            None => {
                self.note(
                    Problem::UndefinedValue,
                    format!("An expression attribute value used in expression is not defined; attribute value: {placeholder}"),
                );
                Ok(AttributeValue::Null)
            }
        }
    }

    fn at_call(&self) -> bool {
        *self.tok() == Tok::Word
            && !self.is_keyword_at(self.pos)
            && matches!(self.toks.get(self.pos + 1).map(|t| &t.tok), Some(Tok::Punct("(")))
    }

    /// An operand, function call or parenthesized operand; the flag says it was parenthesized.
    fn term(&mut self) -> Result<(Term, bool), Syntax> {
        if self.eat("(") {
            let (inner, was_parenthesized) = self.term()?;
            self.expect(")")?;
            if was_parenthesized {
                self.note(Problem::Parens, "The expression has redundant parentheses;".into());
            }
            return Ok((inner, true));
        }
        if *self.tok() == Tok::Value {
            return Ok((Term::Value(self.value()?), false));
        }
        if self.at_call() {
            let name = self.text(self.pos).to_owned();
            self.pos += 2;
            let mut args = vec![self.term()?.0];
            while self.eat(",") {
                args.push(self.term()?.0);
            }
            self.expect(")")?;
            return Ok((Term::Call(name, args), false));
        }
        Ok((Term::Path(self.path()?), false))
    }

    // ---- conditions ----

    pub fn condition(&mut self) -> Result<Condition, Syntax> {
        let mut left = self.and()?;
        while self.is_word("OR") {
            self.pos += 1;
            let right = self.and()?;
            left = Condition::Or(Box::new(left), Box::new(right));
            self.parenthesized = false;
        }
        Ok(left)
    }

    fn and(&mut self) -> Result<Condition, Syntax> {
        let mut left = self.not()?;
        while self.is_word("AND") {
            self.pos += 1;
            let right = self.not()?;
            left = Condition::And(Box::new(left), Box::new(right));
            self.parenthesized = false;
        }
        Ok(left)
    }

    fn not(&mut self) -> Result<Condition, Syntax> {
        if self.is_word("NOT") {
            self.pos += 1;
            let inner = self.not()?;
            self.parenthesized = false;
            return Ok(Condition::Not(Box::new(inner)));
        }
        self.primary()
    }

    fn at_comparison(&self) -> bool {
        matches!(self.tok(), Tok::Punct("=" | "<>" | "<" | "<=" | ">" | ">="))
            || self.is_word("BETWEEN")
            || self.is_word("IN")
    }

    fn primary(&mut self) -> Result<Condition, Syntax> {
        let mut furthest: Option<Syntax> = None;
        if self.is_punct("(") {
            // `(` opens either a condition or an operand (`(a) = :v`); try the condition first.
            let (start, noted) = (self.pos, self.problems.len());
            self.pos += 1;
            match self.condition() {
                Ok(inner) if self.eat(")") && !self.at_comparison() => {
                    if self.parenthesized {
                        self.note(Problem::Parens, "The expression has redundant parentheses;".into());
                    }
                    self.parenthesized = true;
                    return Ok(inner);
                }
                Ok(_) => furthest = Some(Syntax(self.pos)),
                Err(e) => furthest = Some(e),
            }
            self.pos = start;
            self.problems.truncate(noted);
        }
        self.parenthesized = false;
        match self.comparison() {
            Ok(c) => Ok(c),
            Err(e) => Err(match furthest {
                Some(f) if f.0 > e.0 => f,
                _ => e,
            }),
        }
    }

    fn comparison(&mut self) -> Result<Condition, Syntax> {
        let (first, _) = self.term()?;
        let cmp = match self.tok() {
            Tok::Punct("=") => Some(Cmp::Eq),
            Tok::Punct("<>") => Some(Cmp::Ne),
            Tok::Punct("<") => Some(Cmp::Lt),
            Tok::Punct("<=") => Some(Cmp::Le),
            Tok::Punct(">") => Some(Cmp::Gt),
            Tok::Punct(">=") => Some(Cmp::Ge),
            _ => None,
        };
        if let Some(cmp) = cmp {
            self.pos += 1;
            let (second, _) = self.term()?;
            self.distinct(cmp.symbol(), &first, &second);
            let a = self.comparand(first);
            let b = self.comparand(second);
            return Ok(Condition::Compare(cmp, a, b));
        }
        if self.is_word("BETWEEN") {
            self.pos += 1;
            let (low, _) = self.term()?;
            if !self.is_word("AND") {
                return Err(Syntax(self.pos));
            }
            self.pos += 1;
            let (high, _) = self.term()?;
            let (x, low, high) = (self.comparand(first), self.comparand(low), self.comparand(high));
            if let (Operand::Value(l), Operand::Value(h)) = (&low, &high) {
                if l.type_name() != h.type_name() {
                    self.note(
                        Problem::Function,
                        format!(
                            "The BETWEEN operator requires same data type for lower and upper bounds; lower bound operand: {}, upper bound operand: {}",
                            literal(l),
                            literal(h)
                        ),
                    );
                } else if super::eval::order(l, h) == Some(std::cmp::Ordering::Greater) {
                    self.note(
                        Problem::Function,
                        format!(
                            "The BETWEEN operator requires upper bound to be greater than or equal to lower bound; lower bound operand: {}, upper bound operand: {}",
                            literal(l),
                            literal(h)
                        ),
                    );
                }
            }
            return Ok(Condition::Between(x, low, high));
        }
        if self.is_word("IN") {
            self.pos += 1;
            self.expect("(")?;
            let mut list = vec![self.term()?.0];
            while self.eat(",") {
                list.push(self.term()?.0);
            }
            self.expect(")")?;
            if list.len() > 100 {
                self.note(
                    Problem::Operands,
                    format!(
                        "The IN operator is provided with too many operands; number of operands: {}",
                        list.len()
                    ),
                );
            }
            let x = self.comparand(first);
            let list = list.into_iter().map(|t| self.comparand(t)).collect();
            return Ok(Condition::In(x, list));
        }
        match first {
            Term::Call(name, args) => Ok(self.function_condition(name, args)),
            _ => Err(Syntax(self.pos)),
        }
    }

    fn known_function(&mut self, name: &str) -> Option<usize> {
        let arity = CONDITION_FUNCTIONS.iter().find(|(n, _)| *n == name).map(|(_, a)| *a);
        if arity.is_none() {
            self.note(
                Problem::UnknownFunction,
                format!("Invalid function name; function: {name}"),
            );
        }
        arity
    }

    fn arity(&mut self, name: &str, expected: usize, got: usize) -> bool {
        if expected != got {
            self.note(
                Problem::Operands,
                format!("Incorrect number of operands for operator or function; operator or function: {name}, number of operands: {got}"),
            );
        }
        expected == got
    }

    fn distinct(&mut self, operator: &str, a: &Term, b: &Term) {
        if let (Term::Path(x), Term::Path(y)) = (a, b) {
            if x == y {
                self.note(
                    Problem::Distinct,
                    format!("The first operand must be distinct from the remaining operands for this operator or function; operator: {operator}, first operand: {x}"),
                );
            }
        }
    }

    /// A term standing where a value is compared: a path, a value or `size(...)`.
    fn comparand(&mut self, t: Term) -> Operand {
        match t {
            Term::Path(p) => Operand::Path(p),
            Term::Value(v) => Operand::Value(v),
            Term::Call(name, args) => {
                if self.known_function(&name).is_some() && name != "size" {
                    self.note(
                        Problem::MisusedFunction,
                        format!("The function is not allowed to be used this way in an expression; function: {name}"),
                    );
                }
                if name != "size" || !self.arity("size", 1, args.len()) {
                    return Operand::Value(AttributeValue::Null);
                }
                let inner = args.into_iter().next().map(|a| self.comparand(a));
                if let Some(Operand::Value(v)) = &inner {
                    if matches!(v, AttributeValue::N(_) | AttributeValue::Bool(_) | AttributeValue::Null) {
                        self.note(Problem::Function, operand_type_error("size", v.type_name()));
                    }
                }
                Operand::Size(Box::new(inner.unwrap_or(Operand::Value(AttributeValue::Null))))
            }
        }
    }

    fn require_path(&mut self, name: &str, t: Term) -> Path {
        match t {
            Term::Path(p) => p,
            other => {
                self.note(
                    Problem::Function,
                    format!("Operator or function requires a document path; operator or function: {name}"),
                );
                let _ = self.comparand(other);
                Path(Vec::new())
            }
        }
    }

    /// A function call standing as a condition of its own.
    fn function_condition(&mut self, name: String, args: Vec<Term>) -> Condition {
        let placeholder = Condition::Exists(Path(Vec::new()));
        let Some(arity) = self.known_function(&name) else {
            return placeholder;
        };
        if name == "size" {
            self.note(
                Problem::MisusedFunction,
                "The function is not allowed to be used this way in an expression; function: size".into(),
            );
            return placeholder;
        }
        if !self.arity(&name, arity, args.len()) {
            return placeholder;
        }
        if let [a, b] = args.as_slice() {
            self.distinct(&name, a, b);
        }
        let mut args = args.into_iter();
        let (Some(first), second) = (args.next(), args.next()) else {
            return placeholder;
        };
        match name.as_str() {
            "attribute_exists" => Condition::Exists(self.require_path(&name, first)),
            "attribute_not_exists" => Condition::NotExists(self.require_path(&name, first)),
            "attribute_type" => {
                let path = self.require_path(&name, first);
                match second.map(|t| self.comparand(t)) {
                    Some(Operand::Value(AttributeValue::S(t))) if TYPE_NAMES.contains(&t.as_str()) => {
                        Condition::IsType(path, t)
                    }
                    Some(Operand::Value(AttributeValue::S(t))) => {
                        self.note(
                            Problem::Function,
                            format!("Invalid attribute type name found; type: {t}, valid types: {{B,NULL,SS,BOOL,L,BS,N,NS,S,M}}"),
                        );
                        placeholder
                    }
                    Some(Operand::Value(v)) => {
                        self.note(Problem::Function, operand_type_error(&name, v.type_name()));
                        placeholder
                    }
                    _ => {
                        self.note(
                            Problem::Function,
                            operand_type_error(&name, "{NS,SS,L,BS,N,M,B,BOOL,NULL,S}"),
                        );
                        placeholder
                    }
                }
            }
            _ => {
                let a = self.comparand(first);
                let b = second
                    .map(|t| self.comparand(t))
                    .unwrap_or(Operand::Value(AttributeValue::Null));
                if name == "begins_with" {
                    for v in [&a, &b] {
                        if let Operand::Value(v) = v {
                            if !matches!(v, AttributeValue::S(_) | AttributeValue::B(_)) {
                                self.note(Problem::Function, operand_type_error(&name, v.type_name()));
                            }
                        }
                    }
                    Condition::BeginsWith(a, b)
                } else {
                    Condition::Contains(a, b)
                }
            }
        }
    }

    // ---- updates ----

    pub fn update(&mut self) -> Result<Update, Syntax> {
        let mut update = Update::default();
        let mut seen: Vec<&'static str> = Vec::new();
        loop {
            let section = ["SET", "REMOVE", "ADD", "DELETE"].into_iter().find(|s| self.is_word(s));
            let Some(section) = section else {
                if seen.is_empty() || !self.at_end() {
                    return Err(Syntax(self.pos));
                }
                return Ok(update);
            };
            if seen.contains(&section) {
                self.note(
                    Problem::Section,
                    format!("The \"{section}\" section can only be used once in an update expression;"),
                );
            }
            seen.push(section);
            self.pos += 1;
            loop {
                match section {
                    "SET" => {
                        let path = self.path()?;
                        self.expect("=")?;
                        let value = self.set_value()?;
                        update.set.push((path, value));
                    }
                    "REMOVE" => update.remove.push(self.path()?),
                    _ => {
                        let path = self.path()?;
                        let value = self.value()?;
                        self.add_or_delete_operand(section, &value);
                        if section == "ADD" {
                            update.add.push((path, value));
                        } else {
                            update.delete.push((path, value));
                        }
                    }
                }
                if !self.eat(",") {
                    break;
                }
            }
        }
    }

    fn add_or_delete_operand(&mut self, section: &str, v: &AttributeValue) {
        let shown = match v {
            AttributeValue::S(_) => "STRING",
            AttributeValue::N(_) if section == "ADD" => return,
            AttributeValue::N(_) => "NUMBER",
            AttributeValue::B(_) => "BINARY",
            AttributeValue::Null => "NULL",
            AttributeValue::Bool(_) => "BOOLEAN",
            AttributeValue::L(_) => "LIST",
            AttributeValue::M(_) => "MAP",
            AttributeValue::Ss(_) | AttributeValue::Ns(_) | AttributeValue::Bs(_) => return,
        };
        self.note(
            Problem::Operands,
            format!("Incorrect operand type for operator or function; operator: {section}, operand type: {shown}"),
        );
    }

    fn set_value(&mut self) -> Result<SetValue, Syntax> {
        if self.is_punct("(") {
            let (start, noted) = (self.pos, self.problems.len());
            self.pos += 1;
            if let Ok(v) = self.set_value() {
                if self.eat(")") && !self.is_punct("+") && !self.is_punct("-") {
                    return Ok(v);
                }
            }
            self.pos = start;
            self.problems.truncate(noted);
        }
        let a = self.update_operand()?;
        for (sign, plus) in [("+", true), ("-", false)] {
            if self.eat(sign) {
                let b = self.update_operand()?;
                for v in [&a, &b] {
                    if let UpdateOperand::Value(v) = v {
                        if !matches!(v, AttributeValue::N(_)) {
                            self.note(Problem::Function, operand_type_error(sign, v.type_name()));
                        }
                    }
                }
                return Ok(if plus {
                    SetValue::Plus(a, b)
                } else {
                    SetValue::Minus(a, b)
                });
            }
        }
        Ok(SetValue::Operand(a))
    }

    fn update_operand(&mut self) -> Result<UpdateOperand, Syntax> {
        if self.eat("(") {
            let inner = self.update_operand()?;
            self.expect(")")?;
            return Ok(inner);
        }
        if *self.tok() == Tok::Value {
            return Ok(UpdateOperand::Value(self.value()?));
        }
        if !self.at_call() {
            return Ok(UpdateOperand::Path(self.path()?));
        }
        let name = self.text(self.pos).to_owned();
        self.pos += 2;
        let mut args = vec![self.update_operand()?];
        while self.eat(",") {
            args.push(self.update_operand()?);
        }
        self.expect(")")?;
        let placeholder = UpdateOperand::Value(AttributeValue::Null);
        if name != "if_not_exists" && name != "list_append" {
            self.note(
                Problem::UnknownFunction,
                format!("Invalid function name; function: {name}"),
            );
            return Ok(placeholder);
        }
        if args.len() != 2 {
            self.note(
                Problem::Function,
                format!("Incorrect number of operands for operator or function; operator or function: {name}, number of operands: {}", args.len()),
            );
            return Ok(placeholder);
        }
        let mut args = args.into_iter();
        let (Some(a), Some(b)) = (args.next(), args.next()) else {
            return Ok(placeholder);
        };
        if name == "if_not_exists" {
            return Ok(match a {
                UpdateOperand::Path(p) => UpdateOperand::IfNotExists(p, Box::new(b)),
                _ => {
                    self.note(
                        Problem::Function,
                        "Operator or function requires a document path; operator or function: if_not_exists".into(),
                    );
                    placeholder
                }
            });
        }
        for v in [&a, &b] {
            if let UpdateOperand::Value(v) = v {
                if !matches!(v, AttributeValue::L(_)) {
                    self.note(Problem::Function, operand_type_error("list_append", v.type_name()));
                }
            }
        }
        Ok(UpdateOperand::ListAppend(Box::new(a), Box::new(b)))
    }

    // ---- projections ----

    pub fn projection(&mut self) -> Result<Vec<Path>, Syntax> {
        let mut paths = vec![self.path()?];
        while self.eat(",") {
            paths.push(self.path()?);
        }
        self.end()?;
        Ok(paths)
    }

    /// Notes the first pair of paths that overlap (one is a prefix of the other) or conflict (one indexes
    /// a list where the other names a map member).
    pub fn check_overlaps<'a>(&mut self, paths: impl Iterator<Item = &'a Path>) {
        let mut earlier: Vec<&Path> = Vec::new();
        for path in paths {
            for before in &earlier {
                let mut differs = false;
                for (x, y) in before.0.iter().zip(path.0.iter()) {
                    let same_kind = matches!(
                        (x, y),
                        (PathElem::Name(_), PathElem::Name(_)) | (PathElem::Index(_), PathElem::Index(_))
                    );
                    if !same_kind {
                        self.note(
                            Problem::Conflict,
                            format!("Two document paths conflict with each other; must remove or rewrite one of these paths; path one: {before}, path two: {path}"),
                        );
                        return;
                    }
                    if x != y {
                        differs = true;
                        break;
                    }
                }
                if !differs {
                    self.note(
                        Problem::Overlap,
                        format!("Two document paths overlap with each other; must remove or rewrite one of these paths; path one: {before}, path two: {path}"),
                    );
                    return;
                }
            }
            earlier.push(path);
        }
    }
}
