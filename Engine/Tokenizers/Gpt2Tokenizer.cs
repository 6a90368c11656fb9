using System.Text.Json.Nodes;
using Microsoft.ML.Tokenizers;

namespace Engine.Tokenizers;

/// <summary>
/// GPT-2's byte-level BPE (the r50k_base encoding, 50,257 ids) through Microsoft.ML.Tokenizers;
/// the vocabulary ships in the Microsoft.ML.Tokenizers.Data.R50kBase package, so it works offline.
/// EOS = PAD = 50256 ("&lt;|endoftext|&gt;"), as GPT-2 has no pad token.
/// </summary>
public sealed class Gpt2Tokenizer : ITokenizer
{
    static readonly Lazy<TiktokenTokenizer> Bpe = new(() => TiktokenTokenizer.CreateForEncoding("r50k_base"));

    public string Kind => "gpt2";
    public int VocabSize => 50257;
    public int EosId => 50256;
    public int PadId => 50256;
    public string EosText => "<|endoftext|>";

    public int[] Encode(string text) => Bpe.Value.EncodeToIds(text).ToArray();

    public string Decode(IEnumerable<int> ids) => Bpe.Value.Decode(ids) ?? "";

    public JsonObject ToJson() => new() { ["type"] = "gpt2", ["encoding"] = "r50k_base" };
}
