/// The `--json` output of every subcommand that has one (`train`, `evaluate`, `experiment`,
/// and later `audit`): one JSON object on one line of standard output, and nothing else on
/// standard output. Written by hand (the CLI does not use Foundation): keys keep the order they
/// were given in, numbers are printed so that they read back as the same Double, and a value
/// that is not finite (an undefined correlation, a missing accuracy) is `null`.
enum JSONValue: Equatable {
  case null
  case bool(Bool)
  case number(Double)
  case integer(Int)
  case string(String)
  case array([JSONValue])
  case object([(String, JSONValue)])

  static func == (a: JSONValue, b: JSONValue) -> Bool { a.text == b.text }

  /// A Float as the Double that prints as its shortest decimal (0.7 rather than
  /// 0.699999988079071): Float's own description reads back as the same Float.
  static func float(_ value: Float) -> JSONValue {
    guard value.isFinite else { return .null }
    return .number(Double("\(value)") ?? Double(value))
  }

  /// A seed or a count: an integer, or (past Int.max) the nearest Double.
  static func unsigned(_ value: UInt64) -> JSONValue {
    value <= UInt64(Int.max) ? .integer(Int(value)) : .number(Double(value))
  }

  /// An optional value: `null` when absent.
  static func optional(_ value: JSONValue?) -> JSONValue { value ?? .null }

  /// The compact JSON text.
  var text: String {
    var out = ""
    write(to: &out)
    return out
  }

  func write(to out: inout String) {
    switch self {
    case .null: out += "null"
    case .bool(let b): out += b ? "true" : "false"
    case .integer(let i): out += String(i)
    case .number(let d):
      guard d.isFinite else {
        out += "null"
        return
      }
      // Swift prints the shortest round-tripping decimal: "0.5", "1e-05", "3.0" (a number
      // keeps its point, so it reads back as a float). JSON allows each of those forms.
      out += "\(d)"
    case .string(let s): JSONValue.quote(s, into: &out)
    case .array(let items):
      out += "["
      for (i, item) in items.enumerated() {
        if i > 0 { out += "," }
        item.write(to: &out)
      }
      out += "]"
    case .object(let members):
      out += "{"
      for (i, (key, value)) in members.enumerated() {
        if i > 0 { out += "," }
        JSONValue.quote(key, into: &out)
        out += ":"
        value.write(to: &out)
      }
      out += "}"
    }
  }

  /// A JSON string literal: quotes, backslashes and control characters escaped.
  static func quote(_ s: String, into out: inout String) {
    out += "\""
    for scalar in s.unicodeScalars {
      switch scalar {
      case "\"": out += "\\\""
      case "\\": out += "\\\\"
      case "\n": out += "\\n"
      case "\r": out += "\\r"
      case "\t": out += "\\t"
      case _ where scalar.value < 0x20:
        let hex = String(scalar.value, radix: 16)
        out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
      default: out.unicodeScalars.append(scalar)
      }
    }
    out += "\""
  }
}

extension JSONValue: ExpressibleByStringLiteral, ExpressibleByIntegerLiteral, ExpressibleByFloatLiteral,
  ExpressibleByBooleanLiteral, ExpressibleByArrayLiteral, ExpressibleByDictionaryLiteral
{
  init(stringLiteral value: String) { self = .string(value) }
  init(integerLiteral value: Int) { self = .integer(value) }
  init(floatLiteral value: Double) { self = .number(value) }
  init(booleanLiteral value: Bool) { self = .bool(value) }
  init(arrayLiteral elements: JSONValue...) { self = .array(elements) }
  /// Keys in the order written.
  init(dictionaryLiteral elements: (String, JSONValue)...) { self = .object(elements) }
}

enum JSONOutput {
  /// Prints `value` as the command's whole standard output: one line.
  static func emit(_ value: JSONValue) {
    print(value.text)
  }
}
