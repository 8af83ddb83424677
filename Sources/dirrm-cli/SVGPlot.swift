/// Minimal SVG charts: a scatter plot with two colored groups and a multi-line chart.
enum SVGPlot {
  struct Series {
    var name: String
    var color: String
    var points: [(Double, Double)]
  }

  static let width = 640.0
  static let height = 480.0
  static let margin = (left: 70.0, right: 20.0, top: 40.0, bottom: 60.0)

  static func scatter(title: String, xLabel: String, yLabel: String, series: [Series]) -> String {
    chart(title: title, xLabel: xLabel, yLabel: yLabel, series: series, lines: false)
  }

  static func lines(title: String, xLabel: String, yLabel: String, series: [Series]) -> String {
    chart(title: title, xLabel: xLabel, yLabel: yLabel, series: series, lines: true)
  }

  /// Tick values at 1, 2 or 5 times a power of ten.
  static func ticks(_ low: Double, _ high: Double) -> [Double] {
    let span = max(high - low, 1e-12)
    var step = 1.0
    while span / step > 8 { step *= 10 }
    while span / step < 3 { step /= 10 }
    if span / step < 4 { step /= 2 } else if span / step > 6 { step *= 2 }
    var value = (low / step).rounded(.up) * step
    var out: [Double] = []
    while value <= high + 1e-9 * span {
      out.append(abs(value) < 1e-12 * span ? 0 : value)
      value += step
    }
    return out
  }

  static func format(_ v: Double) -> String {
    let rounded = (v * 1000).rounded() / 1000
    return rounded == rounded.rounded() ? String(Int(rounded)) : String(rounded)
  }

  static func chart(title: String, xLabel: String, yLabel: String, series: [Series], lines: Bool) -> String {
    let all = series.flatMap(\.points).filter { $0.0.isFinite && $0.1.isFinite }
    var (x0, x1) = (all.map(\.0).min() ?? 0, all.map(\.0).max() ?? 1)
    var (y0, y1) = (all.map(\.1).min() ?? 0, all.map(\.1).max() ?? 1)
    if x0 == x1 { (x0, x1) = (x0 - 1, x1 + 1) }
    if y0 == y1 { (y0, y1) = (y0 - 1, y1 + 1) }
    let plotW = width - margin.left - margin.right
    let plotH = height - margin.top - margin.bottom
    func px(_ x: Double) -> Double { margin.left + (x - x0) / (x1 - x0) * plotW }
    func py(_ y: Double) -> Double { margin.top + (1 - (y - y0) / (y1 - y0)) * plotH }
    func n(_ v: Double) -> String { String((v * 10).rounded() / 10) }
    var svg = """
      <svg xmlns="http://www.w3.org/2000/svg" width="\(Int(width))" height="\(Int(height))" \
      font-family="sans-serif" font-size="13">
      <rect width="100%" height="100%" fill="white"/>
      <text x="\(n(width / 2))" y="24" text-anchor="middle" font-size="16">\(escape(title))</text>

      """
    for t in ticks(x0, x1) {
      svg +=
        "<line x1=\"\(n(px(t)))\" y1=\"\(n(margin.top))\" x2=\"\(n(px(t)))\" y2=\"\(n(margin.top + plotH))\" stroke=\"#eee\"/>\n"
      svg +=
        "<text x=\"\(n(px(t)))\" y=\"\(n(margin.top + plotH + 18))\" text-anchor=\"middle\">\(format(t))</text>\n"
    }
    for t in ticks(y0, y1) {
      svg +=
        "<line x1=\"\(n(margin.left))\" y1=\"\(n(py(t)))\" x2=\"\(n(margin.left + plotW))\" y2=\"\(n(py(t)))\" stroke=\"#eee\"/>\n"
      svg +=
        "<text x=\"\(n(margin.left - 6))\" y=\"\(n(py(t) + 4))\" text-anchor=\"end\">\(format(t))</text>\n"
    }
    if x0 < 0 && x1 > 0 {
      svg +=
        "<line x1=\"\(n(px(0)))\" y1=\"\(n(margin.top))\" x2=\"\(n(px(0)))\" y2=\"\(n(margin.top + plotH))\" stroke=\"#999\"/>\n"
    }
    if y0 < 0 && y1 > 0 {
      svg +=
        "<line x1=\"\(n(margin.left))\" y1=\"\(n(py(0)))\" x2=\"\(n(margin.left + plotW))\" y2=\"\(n(py(0)))\" stroke=\"#999\"/>\n"
    }
    svg +=
      "<rect x=\"\(n(margin.left))\" y=\"\(n(margin.top))\" width=\"\(n(plotW))\" height=\"\(n(plotH))\" fill=\"none\" stroke=\"#333\"/>\n"
    for s in series {
      let points = s.points.filter { $0.0.isFinite && $0.1.isFinite }
      if lines {
        let path = points.map { "\(n(px($0.0))),\(n(py($0.1)))" }.joined(separator: " ")
        svg += "<polyline fill=\"none\" stroke=\"\(s.color)\" stroke-width=\"1.5\" points=\"\(path)\"/>\n"
      } else {
        for p in points {
          svg +=
            "<circle cx=\"\(n(px(p.0)))\" cy=\"\(n(py(p.1)))\" r=\"2\" fill=\"\(s.color)\" fill-opacity=\"0.45\"/>\n"
        }
      }
    }
    for (i, s) in series.enumerated() {
      let y = margin.top + 14 + Double(i) * 18
      svg +=
        "<rect x=\"\(n(margin.left + 10))\" y=\"\(n(y - 9))\" width=\"10\" height=\"10\" fill=\"\(s.color)\"/>\n"
      svg += "<text x=\"\(n(margin.left + 26))\" y=\"\(n(y))\">\(escape(s.name))</text>\n"
    }
    svg +=
      "<text x=\"\(n(margin.left + plotW / 2))\" y=\"\(n(height - 16))\" text-anchor=\"middle\">\(escape(xLabel))</text>\n"
    svg +=
      "<text transform=\"translate(18 \(n(margin.top + plotH / 2))) rotate(-90)\" text-anchor=\"middle\">\(escape(yLabel))</text>\n"
    return svg + "</svg>\n"
  }

  static func escape(_ s: String) -> String {
    var out = ""
    for c in s {
      switch c {
      case "<": out += "&lt;"
      case ">": out += "&gt;"
      case "&": out += "&amp;"
      default: out.append(c)
      }
    }
    return out
  }
}
