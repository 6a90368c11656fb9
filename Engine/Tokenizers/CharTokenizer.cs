using System.Text.Json.Nodes;

namespace Engine.Tokenizers;

/// <summary>
/// One id per character, for the built-in tasks, plus the reasoning format's markers as single
/// ids: PAD = 0, EOS = 1 ("&lt;|endoftext|&gt;"), then &lt;think&gt;, &lt;/think&gt;, &lt;answer&gt;,
/// &lt;/answer&gt;, then the characters (printable ASCII and newline by default). Encoding matches the
/// special strings first, so "&lt;answer&gt;" is one token and never six.
/// </summary>
public sealed class CharTokenizer : ITokenizer
{
    public static readonly string[] Specials = ["<pad>", "<|endoftext|>", "<think>", "</think>", "<answer>", "</answer>"];
    public const string DefaultChars = "\n " +
        "!\"#$%&'()*+,-./0123456789:;<=>?@ABCDEFGHIJKLMNOPQRSTUVWXYZ[\\]^_`abcdefghijklmnopqrstuvwxyz{|}~";

    readonly string chars;
    readonly Dictionary<char, int> charIds;

    public CharTokenizer(string chars = DefaultChars)
    {
        if (chars.Distinct().Count() != chars.Length) throw new ArgumentException("char tokenizer: the character set has duplicates");
        this.chars = chars;
        charIds = chars.Select((c, i) => (c, i)).ToDictionary(p => p.c, p => Specials.Length + p.i);
    }

    public string Kind => "char";
    public int VocabSize => Specials.Length + chars.Length;
    public int PadId => 0;
    public int EosId => 1;
    public string EosText => Specials[1];
    public int ThinkId => 2;
    public int EndThinkId => 3;
    public int AnswerId => 4;
    public int EndAnswerId => 5;

    public int[] Encode(string text)
    {
        var ids = new List<int>(text.Length);
        int i = 0;
        while (i < text.Length)
        {
            int special = -1;
            if (text[i] == '<')
                for (int s = 0; s < Specials.Length; s++)
                    if (string.CompareOrdinal(text, i, Specials[s], 0, Specials[s].Length) == 0) { special = s; break; }
            if (special >= 0) { ids.Add(special); i += Specials[special].Length; continue; }
            if (!charIds.TryGetValue(text[i], out int id))
                throw new ArgumentException($"char tokenizer: character '{text[i]}' (U+{(int)text[i]:X4}) at {i} is not in its " +
                                            "vocabulary (printable ASCII and the reasoning markers); for other text use --tokenizer gpt2");
            ids.Add(id);
            i++;
        }
        return ids.ToArray();
    }

    public string Decode(IEnumerable<int> ids)
    {
        var sb = new System.Text.StringBuilder();
        foreach (int id in ids)
        {
            if (id < 0 || id >= VocabSize) throw new ArgumentException($"char tokenizer: id {id} is outside the vocabulary of {VocabSize}");
            if (id == PadId) continue;
            sb.Append(id < Specials.Length ? Specials[id] : chars[id - Specials.Length].ToString());
        }
        return sb.ToString();
    }

    public JsonObject ToJson() => new() { ["type"] = "char",
        ["specials"] = new JsonArray(Specials.Select(s => (JsonNode)s!).ToArray()), ["chars"] = chars };

    public static CharTokenizer FromJson(JsonObject o)
    {
        var specials = o["specials"]?.AsArray().Select(n => n!.GetValue<string>()).ToArray() ?? Specials;
        if (!specials.SequenceEqual(Specials))
            throw new InvalidDataException("tokenizer: the char tokenizer's special tokens differ from this engine's");
        return new CharTokenizer(o["chars"]?.GetValue<string>()
            ?? throw new InvalidDataException("tokenizer: char tokenizer without 'chars'"));
    }
}
