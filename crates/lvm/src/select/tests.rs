use super::*;
use proptest::prelude::*;

fn fields(name: &str) -> Option<(String, FieldType)> {
    let id = match name {
        "name" => "lv_name",
        "size" => "lv_size",
        n => n,
    };
    let ty = match id {
        "lv_name" | "origin" => FieldType::String,
        "lv_size" => FieldType::Size,
        "count" | "lv_kernel_major" => FieldType::Number,
        "pct" => FieldType::Percent,
        "tags" => FieldType::StringList,
        "lv_time" => FieldType::Time,
        _ => return None,
    };
    Some((id.to_string(), ty))
}

fn row(name: &str, mib: u64, tags: &[&str]) -> impl Fn(&str) -> Value {
    let name = name.to_string();
    let tags: Vec<String> = tags.iter().map(|t| t.to_string()).collect();
    move |f: &str| match f {
        "lv_name" => Value::Str(name.clone()),
        "origin" => Value::Str(String::new()),
        "lv_size" => Value::Size(Some((mib * 2048) as f64)),
        "count" => Value::Number(Some(mib)),
        "lv_kernel_major" => Value::Number(None),
        "pct" => Value::Percent(if mib > 10 { Some(50.29) } else { None }),
        "tags" => Value::List(tags.clone()),
        "lv_time" => Value::Time(Some(1_795_239_914)), // 2026-11-21 05:45:14 UTC
        _ => Value::Str(String::new()),
    }
}

fn sel(text: &str) -> Selection {
    Selection::parse(text, &fields).unwrap_or_else(|e| panic!("{text}: {e:?}"))
}

fn err(text: &str) -> SelectError {
    Selection::parse(text, &fields).expect_err(text)
}

#[test]
fn test_sizes_take_units_and_mib_by_default() {
    let r = row("lv1", 8, &[]);
    assert!(sel("lv_size=8").matches(&r));
    assert!(sel("size=8m").matches(&r));
    assert!(sel("lv_size=8192k").matches(&r));
    assert!(sel("lv_size=16384s").matches(&r));
    assert!(sel("lv_size>8M").matches(&r), "M is 10^6 bytes");
    assert!(!sel("lv_size>8m").matches(&r));
    assert!(sel("lv_size>=8m && lv_size<=8m").matches(&r));
    assert!(sel("lv_size<0.01g").matches(&r));
}

#[test]
fn test_logic_precedence_and_grouping_follow_lvm() {
    let lv1 = row("lv1", 8, &[]);
    let lv2 = row("lv2", 16, &[]);
    let s = sel("lv_name=lv1 || lv_name=lv2 && lv_size>8m");
    assert!(s.matches(&lv1) && s.matches(&lv2));
    let s = sel("(lv_name=lv1 # lv_name=lv2) , lv_size>8m");
    assert!(!s.matches(&lv1) && s.matches(&lv2));
    assert!(sel("!(lv_name=lv1)").matches(&lv2));
    assert!(!sel("!(lv_name=lv1)").matches(&lv1));
    assert!(sel(" lv_name = lv1 ").matches(&lv1));
    assert!(sel("").matches(&lv1) && sel("all").matches(&lv1));
}

#[test]
fn test_strings_regexes_and_reserved_values() {
    let r = row("str", 16, &[]);
    assert!(sel("lv_name=~s.r").matches(&r));
    assert!(sel("lv_name!~^lv").matches(&r));
    assert!(sel("lv_name=~\"[a-z]$\"").matches(&r));
    assert!(sel("lv_name='str'").matches(&r));
    assert!(sel("origin=\"\"").matches(&r));
    assert!(!sel("lv_name==str").matches(&r), "the value is '=str'");
    assert!(sel("lv_kernel_major=-1").matches(&r));
    assert!(sel("lv_kernel_major=undefined").matches(&r));
    assert!(!sel("lv_kernel_major>0").matches(&r));
}

#[test]
fn test_percentages_never_match_when_undefined() {
    let some = row("a", 16, &[]);
    let none = row("b", 8, &[]);
    assert!(sel("pct>50").matches(&some));
    assert!(sel("pct<50.3%").matches(&some));
    assert!(!sel("pct>=0").matches(&none));
    assert!(!sel("pct!=1").matches(&none));
}

#[test]
fn test_string_lists_strict_subset_and_any() {
    let both = row("a", 1, &["t2", "t1"]);
    let one = row("b", 1, &["t2"]);
    let none = row("c", 1, &[]);
    let m = |s: &str| [&both, &one, &none].map(|r| sel(s).matches(r));
    assert_eq!(m("tags=t1"), [true, false, false]);
    assert_eq!(m("tags={t2}"), [true, true, false]);
    assert_eq!(m("tags=[t2]"), [false, true, false]);
    assert_eq!(m("tags=[t1,t2]"), [true, false, false]);
    assert_eq!(m("tags={t1,t2}"), [true, false, false]);
    assert_eq!(m("tags={t1,t3}"), [false, false, false]);
    assert_eq!(m("tags={t1||t3}"), [true, false, false]);
    assert_eq!(m("tags=[t1||t2]"), [true, true, false]);
    assert_eq!(m("tags=\"\""), [false, false, true]);
    assert_eq!(m("tags=[]"), [false, false, true]);
    assert_eq!(m("tags!={t1}"), [false, true, true]);
}

#[test]
fn test_times_are_ranges_of_what_the_date_names() {
    let r = row("a", 1, &[]);
    assert!(sel("lv_time>\"2000-01-01\"").matches(&r));
    assert!(sel("lv_time since \"2026-11-21 05:45\"").matches(&r));
    assert!(sel("lv_time=2026-11-21").matches(&r));
    assert!(sel("lv_time=2026-11").matches(&r));
    assert!(sel("lv_time=2026").matches(&r));
    assert!(sel("lv_time=\"2026-11-21 05:45:14\"").matches(&r));
    assert!(sel("lv_time=\"2026-11-21 06:45:14 +01:00\"").matches(&r));
    assert!(!sel("lv_time after 2026").matches(&r));
    assert!(sel("lv_time before 2027").matches(&r));
    assert!(sel("lv_time until \"2100-01-01 00:00:00\"").matches(&r));
    assert!(sel("lv_time=@1795239914").matches(&r));
    assert_eq!(err("lv_time=999999999999999999-01-01").lines[0], "Incorrect date format.");
}

#[test]
fn test_refusals_carry_lvms_lines() {
    let e = err("foo=1");
    assert_eq!(e.help, Help::Fields);
    assert_eq!(e.lines[0], "Unrecognised selection field: foo");
    assert_eq!(err("!lv_name=lv1").lines, ["Syntax error: left parenthesis expected at 'lv_name=lv1'"]);
    assert_eq!(err("(lv_name=lv1").lines, ["Syntax error: right parenthesis expected at ''"]);
    assert_eq!(
        err("lv_name=lv1)").lines,
        ["Expecting logical operator", "Selection syntax error at ')'.", "Use 'help' for selection to get more help."]
    );
    assert_eq!(err("lv_size>abc").lines[0], "Failed to parse numeric value for selection field lv_size.");
    assert_eq!(err("lv_size").lines[0], "Unrecognised comparison operator: ");
    assert_eq!(err("lv_size").help, Help::Selection);
    assert_eq!(err("lv_name=lv1 &&").lines[..2], ["Expecting field name", "Selection syntax error at ''."]);
    assert_eq!(err("lv_size=~1").lines, ["dm_report: incompatible comparison type for selection field lv_size"]);
    assert_eq!(err("tags=~t").lines, ["dm_report: incompatible comparison type for selection field tags"]);
    assert!(err("lv_name<lv1").lines[0].starts_with("Operator can be used only with number"));
    assert_eq!(err("lv_size since 1").lines[0], "Operator can be used only with time fields: lv_size since 1");
    assert_eq!(
        err("lv_time>notatime").lines[..2],
        [
            "Unrecognized string in date/time specification at \"notatime\".",
            "Failed to parse time value for selection field lv_time."
        ]
    );
    assert_eq!(
        err("lv_name=\"lv1").lines[..3],
        ["Missing end quote.", "Missing end quote.", "Failed to parse string value for selection field lv_name."]
    );
}

// The property: a random expression, printed in LVM's syntax, parses into
// a selection that selects exactly the rows the expression itself does.

#[derive(Debug, Clone)]
enum Expr {
    Name(bool, String),
    Size(Op, u64),
    Count(Op, u64),
    Tags { items: Vec<String>, any: bool, subset: bool },
    And(Vec<Expr>),
    Or(Vec<Expr>),
    Not(Box<Expr>),
}

#[derive(Debug, Clone)]
struct Row {
    name: String,
    mib: u64,
    tags: Vec<String>,
}

const NAMES: &[&str] = &["a", "b", "lv1", "x_y"];
const TAGS: &[&str] = &["t1", "t2", "t3"];

fn op_text(op: Op) -> &'static str {
    match op {
        Op::Eq => "=",
        Op::Ne => "!=",
        Op::Gt => ">",
        Op::Ge => ">=",
        Op::Lt => "<",
        Op::Le => "<=",
        Op::Match => "=~",
        Op::NotMatch => "!~",
    }
}

fn print(e: &Expr, spaced: bool) -> String {
    let (and, or) = if spaced { (" && ", " || ") } else { (",", "#") };
    match e {
        Expr::Name(eq, n) => format!("lv_name{}{n}", if *eq { "=" } else { "!=" }),
        Expr::Size(op, m) => format!("lv_size{}{m}m", op_text(*op)),
        Expr::Count(op, c) => format!("count {} {c}", op_text(*op)),
        Expr::Tags { items, any, subset } => {
            let sep = if *any { "||" } else { "," };
            let (o, c) = if *subset { ("{", "}") } else { ("[", "]") };
            format!("tags={o}{}{c}", items.join(sep))
        }
        Expr::And(v) => format!("({})", v.iter().map(|e| print(e, spaced)).collect::<Vec<_>>().join(and)),
        Expr::Or(v) => format!("({})", v.iter().map(|e| print(e, spaced)).collect::<Vec<_>>().join(or)),
        Expr::Not(e) => format!("!({})", print(e, spaced)),
    }
}

fn cmp(op: Op, a: u64, b: u64) -> bool {
    match op {
        Op::Eq => a == b,
        Op::Ne => a != b,
        Op::Gt => a > b,
        Op::Ge => a >= b,
        Op::Lt => a < b,
        Op::Le => a <= b,
        _ => unreachable!(),
    }
}

fn model(e: &Expr, r: &Row) -> bool {
    match e {
        Expr::Name(eq, n) => (r.name == *n) == *eq,
        Expr::Size(op, m) => cmp(*op, r.mib, *m),
        Expr::Count(op, c) => cmp(*op, r.mib, *c),
        Expr::Tags { items, any, subset } => {
            let has = |t: &String| r.tags.contains(t);
            // One item: `[t]` is strict, `{t}` any (which is its subset).
            if *any && items.len() > 1 {
                items.iter().any(has)
            } else if *subset {
                !r.tags.is_empty() && items.iter().all(has)
            } else {
                let mut a = r.tags.clone();
                a.sort();
                a.dedup();
                let mut b = items.clone();
                b.sort();
                b.dedup();
                !r.tags.is_empty() && a == b && items.len() == b.len()
            }
        }
        Expr::And(v) => v.iter().all(|e| model(e, r)),
        Expr::Or(v) => v.iter().any(|e| model(e, r)),
        Expr::Not(e) => !model(e, r),
    }
}

fn num_op() -> impl Strategy<Value = Op> {
    prop::sample::select(vec![Op::Eq, Op::Ne, Op::Gt, Op::Ge, Op::Lt, Op::Le])
}

fn expr() -> impl Strategy<Value = Expr> {
    let name = prop::sample::select(NAMES).prop_map(String::from);
    let tag = prop::sample::select(TAGS).prop_map(String::from);
    let leaf =
        prop_oneof![
            (any::<bool>(), name).prop_map(|(eq, n)| Expr::Name(eq, n)),
            (num_op(), 0u64..20).prop_map(|(o, m)| Expr::Size(o, m)),
            (num_op(), 0u64..20).prop_map(|(o, m)| Expr::Count(o, m)),
            (prop::collection::vec(tag, 1..3), any::<bool>(), any::<bool>())
                .prop_map(|(items, any, subset)| Expr::Tags { items, any, subset }),
        ];
    leaf.prop_recursive(4, 24, 3, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 1..4).prop_map(Expr::And),
            prop::collection::vec(inner.clone(), 1..4).prop_map(Expr::Or),
            inner.prop_map(|e| Expr::Not(Box::new(e))),
        ]
    })
}

fn rows() -> impl Strategy<Value = Vec<Row>> {
    let r = (prop::sample::select(NAMES), 0u64..20, prop::sample::subsequence(TAGS.to_vec(), 0..=3)).prop_map(
        |(n, mib, tags)| Row { name: n.to_string(), mib, tags: tags.into_iter().map(String::from).collect() },
    );
    prop::collection::vec(r, 1..8)
}

proptest! {
    #[test]
    fn test_printed_expressions_select_what_the_model_selects(e in expr(), rows in rows(), spaced in any::<bool>()) {
        let text = print(&e, spaced);
        let s = Selection::parse(&text, &fields).map_err(|err| TestCaseError::fail(format!("{text}: {err:?}")))?;
        for r in &rows {
            let get = |f: &str| match f {
                "lv_name" => Value::Str(r.name.clone()),
                "lv_size" => Value::Size(Some((r.mib * 2048) as f64)),
                "count" => Value::Number(Some(r.mib)),
                "tags" => Value::List(r.tags.clone()),
                _ => Value::Str(String::new()),
            };
            prop_assert_eq!(s.matches(&get), model(&e, r), "{} on {:?}", text, r);
        }
    }

    #[test]
    fn test_any_text_parses_or_is_refused_without_panic(text in "[a-z_=!~<>&|,#(){}\\[\\]\"' 0-9.%@-]{0,40}") {
        let _ = Selection::parse(&text, &fields);
    }
}
