namespace Engine.Data;

/// <summary>A character-level vocabulary built from a text: one id per distinct character, in sorted order.</summary>
public sealed class CharVocab
{
    readonly char[] chars;
    readonly Dictionary<char, int> ids;

    public CharVocab(string text)
    {
        chars = text.Distinct().Order().ToArray();
        if (chars.Length == 0) throw new ArgumentException("char vocab: the text is empty");
        ids = chars.Select((c, i) => (c, i)).ToDictionary(p => p.c, p => p.i);
    }

    public int Size => chars.Length;

    public int[] Encode(string text)
    {
        var result = new int[text.Length];
        for (int i = 0; i < text.Length; i++)
            result[i] = ids.TryGetValue(text[i], out int id) ? id
                : throw new ArgumentException($"char vocab: character {text[i]} (U+{(int)text[i]:X4}) is not in the vocabulary");
        return result;
    }

    public string Decode(IEnumerable<int> tokens) => new(tokens.Select(t => chars[t]).ToArray());
}
