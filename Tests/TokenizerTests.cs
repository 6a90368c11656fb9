using Engine.Tokenizers;
using NUnit.Framework;

namespace Engine.Tests;

public class TokenizerTests
{
    [Test]
    public void CharTokenizerHasTheReasoningMarkersAsSingleIds()
    {
        var tok = new CharTokenizer();
        string text = "<think>2+2 is 4</think><answer>4</answer><|endoftext|>";
        int[] ids = tok.Encode(text);
        Assert.That(ids[0], Is.EqualTo(tok.ThinkId));
        Assert.That(ids, Does.Contain(tok.EndThinkId).And.Contain(tok.AnswerId).And.Contain(tok.EndAnswerId));
        Assert.That(ids[^1], Is.EqualTo(tok.EosId));
        Assert.That(ids.Length, Is.EqualTo(1 + "2+2 is 4".Length + 1 + 1 + 1 + 1 + 1));
        Assert.That(tok.Decode(ids), Is.EqualTo(text));
        Assert.That(tok.Encode("<b"), Has.Length.EqualTo(2), "a lone '<' is a character");
        Assert.Throws<ArgumentException>(() => tok.Encode("é"));
    }

    [Test]
    public void Gpt2TokenizerMatchesKnownIdsAndRoundTrips()
    {
        var tok = new Gpt2Tokenizer();
        // Known GPT-2 (r50k_base) ids.
        Assert.That(tok.Encode("Hello world"), Is.EqualTo(new[] { 15496, 995 }));
        Assert.That(tok.Encode(" the"), Is.EqualTo(new[] { 262 }));
        Assert.That(tok.Encode("<|endoftext|>"), Is.EqualTo(new[] { 50256 }));
        foreach (var s in new[] { "The quick brown fox jumps over the lazy dog.", "  spaces\tand\nnewlines ", "naïve café — 東京", "12+34=46" })
            Assert.That(tok.Decode(tok.Encode(s)), Is.EqualTo(s));
    }

    [Test]
    public void TokenizersTravelAsJson()
    {
        string path = Path.GetTempFileName();
        try
        {
            foreach (ITokenizer tok in new ITokenizer[] { new CharTokenizer(), new Gpt2Tokenizer() })
            {
                Tokenizer.Save(tok, path);
                var back = Tokenizer.Load(path);
                Assert.That(back.Kind, Is.EqualTo(tok.Kind));
                Assert.That(back.Encode("1+1=2 <answer>"), Is.EqualTo(tok.Encode("1+1=2 <answer>")));
            }
        }
        finally { File.Delete(path); }
    }
}
