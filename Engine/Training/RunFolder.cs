using System.Text.Json;

namespace Engine.Training;

/// <summary>
/// A run's output folder: metrics.jsonl (one JSON object per step, appended and flushed so a
/// killed run keeps what it logged) and summary.json (written to a temp file, then renamed).
/// </summary>
public sealed class RunFolder : IDisposable
{
    readonly StreamWriter metrics;
    public string Path { get; }

    public RunFolder(string path)
    {
        Path = path;
        Directory.CreateDirectory(path);
        metrics = new StreamWriter(System.IO.Path.Combine(path, "metrics.jsonl"), append: false);
    }

    public void Log(IReadOnlyDictionary<string, object> row)
    {
        metrics.WriteLine(JsonSerializer.Serialize(row));
        metrics.Flush();
    }

    public void WriteSummary(IReadOnlyDictionary<string, object> summary)
    {
        string final = System.IO.Path.Combine(Path, "summary.json");
        string tmp = final + ".tmp";
        File.WriteAllText(tmp, JsonSerializer.Serialize(summary, new JsonSerializerOptions { WriteIndented = true }));
        File.Move(tmp, final, overwrite: true);
    }

    public void Dispose() => metrics.Dispose();
}
