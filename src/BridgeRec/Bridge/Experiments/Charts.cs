using ScottPlot;

namespace BridgeRec.Bridge.Experiments;

/// <summary>A series of a line chart: (x, mean, std) points.</summary>
public sealed record LineSeries(string Label, double[] X, double[] Mean, double[] Std);

/// <summary>PNG charts of an experiment report (ScottPlot 5).</summary>
public static class Charts
{
    const int Width = 900, Height = 520;

    /// <summary>One line per series, error bars of one std.</summary>
    public static void Lines(string path, string title, string xLabel, string yLabel, IReadOnlyList<LineSeries> series, string[]? xTickLabels = null)
    {
        var plt = new Plot();
        var palette = new ScottPlot.Palettes.Category10();
        for (int s = 0; s < series.Count; s++)
        {
            var ser = series[s];
            var color = palette.GetColor(s);
            var line = plt.Add.Scatter(ser.X, ser.Mean);
            line.LegendText = ser.Label;
            line.Color = color;
            line.LineWidth = 2;
            line.MarkerSize = 7;
            if (ser.Std.Any(v => v > 0))
            {
                var err = plt.Add.ErrorBar(ser.X, ser.Mean, ser.Std);
                err.Color = color;
            }
        }
        if (xTickLabels is not null && series.Count > 0)
            plt.Axes.Bottom.TickGenerator = new ScottPlot.TickGenerators.NumericManual(series.OrderByDescending(x => x.X.Length).First().X, xTickLabels);
        plt.Title(title);
        plt.XLabel(xLabel);
        plt.YLabel(yLabel);
        plt.ShowLegend(Alignment.LowerRight);
        plt.SavePng(path, Width, Height);
    }

    /// <summary>Grouped bars: one group per category, one bar per method (side by side), error bars of one std.</summary>
    public static void GroupedBars(string path, string title, string yLabel, IReadOnlyList<string> categories,
        IReadOnlyList<string> methods, double[,] mean, double[,] std)
    {
        var plt = new Plot();
        var palette = new ScottPlot.Palettes.Category10();
        int nm = methods.Count;
        double width = 0.8 / Math.Max(1, nm);
        var bars = new List<Bar>();
        for (int c = 0; c < categories.Count; c++)
            for (int m = 0; m < nm; m++)
            {
                if (double.IsNaN(mean[m, c])) continue;
                bars.Add(new Bar
                {
                    Position = c + (m - (nm - 1) / 2.0) * width,
                    Value = mean[m, c],
                    Error = double.IsNaN(std[m, c]) ? 0 : std[m, c],
                    Size = width * 0.95,
                    FillColor = palette.GetColor(m),
                });
            }
        plt.Add.Bars(bars);
        for (int m = 0; m < nm; m++)
            plt.Legend.ManualItems.Add(new LegendItem { LabelText = methods[m], FillColor = palette.GetColor(m) });
        plt.Axes.Bottom.TickGenerator = new ScottPlot.TickGenerators.NumericManual(
            Enumerable.Range(0, categories.Count).Select(i => (double)i).ToArray(), categories.ToArray());
        plt.Axes.Margins(bottom: 0);
        plt.Title(title);
        plt.YLabel(yLabel);
        plt.ShowLegend(Alignment.UpperLeft);
        plt.SavePng(path, Width, Height);
    }
}
