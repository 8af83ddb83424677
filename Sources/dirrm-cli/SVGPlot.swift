/// Minimal SVG charts: a scatter plot of colored groups and a multi-line chart.
///
/// Every chart states its axes in a machine-readable way: the plot frame is
/// `<rect class="frame" data-x-min=… data-x-max=… data-y-min=… data-y-max=…>`, whose x, y,
/// width and height are the pixels those data ranges map to. The ranges are padded beyond the
/// data (`Range.padded`), so no point or line touches the frame, and the legend is drawn in a
/// column to the right of the frame (`<g class="legend">`), never over the data.
enum SVGPlot {
  struct Series {
    var name: String
    var color: String
    var points: [(Double, Double)]
  }

  /// A closed data interval of one axis.
  struct Range: Equatable {
    var low: Double
    var high: Double

    /// The interval that holds every finite value, widened by `fraction` of its span on each
    /// side (or by 1 when all values are equal, or 0...1 when there are none), so that the
    /// extreme points sit inside the frame.
    static func padded(_ values: [Double], fraction: Double = 0.05) -> Range {
      let finite = values.filter(\.isFinite)
      guard var low = finite.min(), var high = finite.max() else { return Range(low: 0, high: 1) }
      if low == high { (low, high) = (low - 1, high + 1) }
      let pad = fraction * (high - low)
      return Range(low: low - pad, high: high + pad)
    }
  }

  static let plotWidth = 550.0
  static let legendWidth = 170.0
  static let height = 480.0
  static let margin = (left: 70.0, top: 40.0, bottom: 60.0)
  static let pointRadius = 2.0

  /// A scatter plot; `x` and `y` fix the axes (to share them between figures), otherwise
  /// they are the padded ranges of the points.
  static func scatter(
    title: String, xLabel: String, yLabel: String, series: [Series], x: Range? = nil, y: Range? = nil
  ) -> String {
    chart(title: title, xLabel: xLabel, yLabel: yLabel, series: series, lines: false, x: x, y: y)
  }

  static func lines(title: String, xLabel: String, yLabel: String, series: [Series]) -> String {
    chart(title: title, xLabel: xLabel, yLabel: yLabel, series: series, lines: true, x: nil, y: nil)
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

  static func chart(
    title: String, xLabel: String, yLabel: String, series: [Series], lines: Bool, x: Range?, y: Range?
  ) -> String {
    let all = series.flatMap(\.points).filter { $0.0.isFinite && $0.1.isFinite }
    let xRange = x ?? Range.padded(all.map(\.0))
    let yRange = y ?? Range.padded(all.map(\.1))
    let (x0, x1, y0, y1) = (xRange.low, xRange.high, yRange.low, yRange.high)
    let width = margin.left + plotWidth + legendWidth
    let plotW = plotWidth
    let plotH = height - margin.top - margin.bottom
    func px(_ x: Double) -> Double { margin.left + (x - x0) / (x1 - x0) * plotW }
    func py(_ y: Double) -> Double { margin.top + (1 - (y - y0) / (y1 - y0)) * plotH }
    func n(_ v: Double) -> String { String((v * 10).rounded() / 10) }
    var svg = """
      <svg xmlns="http://www.w3.org/2000/svg" width="\(Int(width))" height="\(Int(height))" \
      font-family="sans-serif" font-size="13">
      <rect width="100%" height="100%" fill="white"/>
      <text x="\(n(margin.left + plotW / 2))" y="24" text-anchor="middle" font-size="16">\(escape(title))</text>

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
    // The zero lines of a scatter plot (a gap's sign is what it shows).
    if !lines && x0 < 0 && x1 > 0 {
      svg +=
        "<line x1=\"\(n(px(0)))\" y1=\"\(n(margin.top))\" x2=\"\(n(px(0)))\" y2=\"\(n(margin.top + plotH))\" stroke=\"#999\"/>\n"
    }
    if !lines && y0 < 0 && y1 > 0 {
      svg +=
        "<line x1=\"\(n(margin.left))\" y1=\"\(n(py(0)))\" x2=\"\(n(margin.left + plotW))\" y2=\"\(n(py(0)))\" stroke=\"#999\"/>\n"
    }
    svg +=
      "<rect class=\"frame\" data-x-min=\"\(x0)\" data-x-max=\"\(x1)\" data-y-min=\"\(y0)\" data-y-max=\"\(y1)\" "
      + "x=\"\(n(margin.left))\" y=\"\(n(margin.top))\" width=\"\(n(plotW))\" height=\"\(n(plotH))\" fill=\"none\" stroke=\"#333\"/>\n"
    for s in series {
      let points = s.points.filter { $0.0.isFinite && $0.1.isFinite }
      if lines {
        let path = points.map { "\(n(px($0.0))),\(n(py($0.1)))" }.joined(separator: " ")
        svg += "<polyline fill=\"none\" stroke=\"\(s.color)\" stroke-width=\"1.5\" points=\"\(path)\"/>\n"
      } else {
        for p in points {
          svg +=
            "<circle cx=\"\(n(px(p.0)))\" cy=\"\(n(py(p.1)))\" r=\"\(n(pointRadius))\" fill=\"\(s.color)\" fill-opacity=\"0.45\"/>\n"
        }
      }
    }
    svg += "<g class=\"legend\">\n"
    let legendX = margin.left + plotW + 16
    for (i, s) in series.enumerated() {
      let y = margin.top + 14 + Double(i) * 18
      svg +=
        "<rect x=\"\(n(legendX))\" y=\"\(n(y - 9))\" width=\"10\" height=\"10\" fill=\"\(s.color)\"/>\n"
      svg += "<text x=\"\(n(legendX + 16))\" y=\"\(n(y))\">\(escape(s.name))</text>\n"
    }
    svg += "</g>\n"
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
      case "\"": out += "&quot;"
      default: out.append(c)
      }
    }
    return out
  }
}
