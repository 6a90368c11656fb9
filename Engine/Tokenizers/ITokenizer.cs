using System.Text.Json;
using System.Text.Json.Nodes;
using Engine.Data;

namespace Engine.Tokenizers;

/// <summary>Text ↔ token ids. Saved as tokenizer.json beside a checkpoint so a model always travels with its tokenizer.</summary>
public interface ITokenizer
{
    string Kind { get; }
    int VocabSize { get; }
    int EosId { get; }
    int PadId { get; }
    /// <summary>The end-of-sequence marker as text (e.g. "&lt;|endoftext|&gt;").</summary>
    string EosText { get; }
    int[] Encode(string text);
    string Decode(IEnumerable<int> ids);
    JsonObject ToJson();
}

public static class Tokenizer
{
    public static readonly string[] Names = ["char", "gpt2"];

    public static ITokenizer Create(string name) => name.ToLowerInvariant() switch
    {
        "char" => new CharTokenizer(),
        "gpt2" => new Gpt2Tokenizer(),
        _ => throw new ArgumentException($"--tokenizer {name}: unknown tokenizer; expected char or gpt2"),
    };

    public static void Save(ITokenizer tokenizer, string path) =>
        File.WriteAllText(path, tokenizer.ToJson().Text(indented: true));

    public static ITokenizer Load(string path)
    {
        if (!File.Exists(path)) throw new InvalidDataException($"tokenizer: {path}: no such file");
        JsonObject o;
        try { o = JsonNode.Parse(File.ReadAllText(path)) as JsonObject
            ?? throw new InvalidDataException($"tokenizer: {path}: expected a JSON object"); }
        catch (JsonException e) { throw new InvalidDataException($"tokenizer: {path}: not valid JSON ({e.Message})"); }
        return o["type"]?.GetValue<string>() switch
        {
            "char" => CharTokenizer.FromJson(o),
            "gpt2" => new Gpt2Tokenizer(),
            var t => throw new InvalidDataException($"tokenizer: {path}: unknown type '{t}'"),
        };
    }
}
