using System.Buffers.Binary;
using System.Text;
using Engine.Autograd;
using Engine.Checkpoints;
using Engine.Model;
using Engine.Tokenizers;
using NUnit.Framework;
using static Engine.Tests.GradCheck;

namespace Engine.Tests;

public class CheckpointTests
{
    string dir = "";

    [SetUp] public void MakeDir() => dir = Path.Combine(Path.GetTempPath(), "engine-ckpt-" + Guid.NewGuid().ToString("N")[..8]);
    [TearDown] public void RemoveDir() { if (Directory.Exists(dir)) Directory.Delete(dir, true); }

    [TestCase(Architecture.Gpt2)]
    [TestCase(Architecture.Llama)]
    [TestCase(Architecture.Qwen2)]
    public void SaveLoadRoundTripReproducesLogitsBitForBit(Architecture type)
    {
        var tok = new CharTokenizer();
        var model = new Transformer(TransformerTests.Small(type, valueHead: true) with { VocabSize = tok.VocabSize }, Cpu, seed: 8);
        Checkpoint.Save(dir, model, tok);
        var (loaded, loadedTok) = Checkpoint.Load(dir, Cpu);
        Assert.That(loadedTok.Encode("<answer>7</answer>"), Is.EqualTo(tok.Encode("<answer>7</answer>")));
        int[] ids = tok.Encode("3+4=7\n10-2");
        using var _ = GradMode.Disable();
        Assert.That(loaded.Forward(ids, 1, ids.Length).ToArray(), Is.EqualTo(model.Forward(ids, 1, ids.Length).ToArray()));
        Assert.That(loaded.Values(loaded.Hidden(ids, 1, ids.Length)).ToArray(), Is.EqualTo(model.Values(model.Hidden(ids, 1, ids.Length)).ToArray()));
        Assert.That(Directory.GetDirectories(Path.GetDirectoryName(dir)!, Path.GetFileName(dir) + ".tmp-*"), Is.Empty, "no temporary folder left");
    }

    [Test]
    public void Gpt2CheckpointUsesHuggingFaceNamesShapesAndConv1dLayout()
    {
        var cfg = TransformerTests.Small(Architecture.Gpt2);
        var model = new Transformer(cfg, Cpu, seed: 1);
        Checkpoint.Save(dir, model, new CharTokenizer());
        var file = SafeTensors.Read(Path.Combine(dir, "model.safetensors"));
        int C = cfg.Hidden, I = cfg.Intermediate;
        var expected = new Dictionary<string, int[]>
        {
            ["transformer.wte.weight"] = [cfg.VocabSize, C], ["transformer.wpe.weight"] = [cfg.MaxPositions, C],
            ["transformer.h.0.ln_1.weight"] = [C], ["transformer.h.0.ln_1.bias"] = [C],
            ["transformer.h.0.attn.c_attn.weight"] = [C, 3 * C], ["transformer.h.0.attn.c_attn.bias"] = [3 * C],
            ["transformer.h.0.attn.c_proj.weight"] = [C, C], ["transformer.h.0.attn.c_proj.bias"] = [C],
            ["transformer.h.1.ln_2.weight"] = [C], ["transformer.h.1.mlp.c_fc.weight"] = [C, I], ["transformer.h.1.mlp.c_fc.bias"] = [I],
            ["transformer.h.1.mlp.c_proj.weight"] = [I, C], ["transformer.ln_f.weight"] = [C], ["transformer.ln_f.bias"] = [C],
        };
        foreach (var (name, shape) in expected)
        {
            Assert.That(file.ContainsKey(name), name);
            Assert.That(file[name].Shape, Is.EqualTo(shape), name);
        }
        Assert.That(file.Keys, Has.None.Contains("lm_head"), "the head is tied to wte");
        Assert.That(file.Count, Is.EqualTo(2 + 2 * 12 + 2));
        // Conv1D: c_attn.weight[i, j] = W_q[j, i] for the first C columns.
        var wq = model.Layers[0].Wq.ToArray();
        var cAttn = file["transformer.h.0.attn.c_attn.weight"].Data;
        Assert.That(cAttn[2 * 3 * C + 5], Is.EqualTo(wq[5 * C + 2]));
    }

    [Test]
    public void Gpt2NamesWithoutTheTransformerPrefixLoadToo()
    {
        var tok = new CharTokenizer();
        var model = new Transformer(TransformerTests.Small(Architecture.Gpt2) with { VocabSize = tok.VocabSize }, Cpu, seed: 3);
        Checkpoint.Save(dir, model, tok);
        string path = Path.Combine(dir, "model.safetensors");
        var file = SafeTensors.Read(path);
        SafeTensors.Write(path, file.Select(kv => (kv.Key.Replace("transformer.", ""), kv.Value.Shape, kv.Value.Data)));   // save_pretrained's style
        var (loaded, _) = Checkpoint.Load(dir, Cpu);
        int[] ids = [3, 9, 20];
        using var _ = GradMode.Disable();
        Assert.That(loaded.Forward(ids, 1, 3).ToArray(), Is.EqualTo(model.Forward(ids, 1, 3).ToArray()));
    }

    [Test]
    public void ShapeThatDisagreesWithConfigIsRejected()
    {
        var tok = new CharTokenizer();
        var model = new Transformer(TransformerTests.Small(Architecture.Llama) with { VocabSize = tok.VocabSize }, Cpu, seed: 3);
        Checkpoint.Save(dir, model, tok);
        var cfg = ModelConfig.Load(Path.Combine(dir, "config.json"));
        (cfg with { Intermediate = cfg.Intermediate + 2 }).Save(Path.Combine(dir, "config.json"));
        var ex = Assert.Throws<InvalidDataException>(() => Checkpoint.Load(dir, Cpu));
        Assert.That(ex!.Message, Does.Contain("mlp.gate_proj.weight").And.Contain("[12, 8]").And.Contain("[14, 8]"));
    }

    // ---- malformed safetensors: one clear message each ----

    string WriteSample()
    {
        Directory.CreateDirectory(dir);
        string path = Path.Combine(dir, "x.safetensors");
        SafeTensors.Write(path, [("a", [2, 3], Rand(new Random(1), 6)), ("b", [4], Rand(new Random(2), 4))]);
        return path;
    }

    static void WriteRaw(string path, string header, int dataBytes)
    {
        var json = Encoding.UTF8.GetBytes(header);
        var bytes = new byte[8 + json.Length + dataBytes];
        BinaryPrimitives.WriteUInt64LittleEndian(bytes, (ulong)json.Length);
        json.CopyTo(bytes, 8);
        File.WriteAllBytes(path, bytes);
    }

    static void Rejects(string path, params string[] fragments)
    {
        var ex = Assert.Throws<InvalidDataException>(() => SafeTensors.Read(path));
        foreach (var f in fragments) Assert.That(ex!.Message, Does.Contain(f), ex.Message);
    }

    [Test]
    public void SafetensorsRoundTrip()
    {
        var file = SafeTensors.Read(WriteSample());
        Assert.That(file["a"].Shape, Is.EqualTo(new[] { 2, 3 }));
        Assert.That(file["a"].Data, Is.EqualTo(Rand(new Random(1), 6)));
        Assert.That(file["b"].Data, Is.EqualTo(Rand(new Random(2), 4)));
    }

    [Test]
    public void TruncatedFileIsRejected()
    {
        string path = WriteSample();
        var bytes = File.ReadAllBytes(path);
        File.WriteAllBytes(path, bytes[..(bytes.Length - 5)]);
        Rejects(path, "'b'", "out of range", "truncated");
        File.WriteAllBytes(path, bytes[..5]);
        Rejects(path, "truncated");
    }

    [Test]
    public void HeaderLengthLargerThanFileIsRejected()
    {
        string path = WriteSample();
        var bytes = File.ReadAllBytes(path);
        BinaryPrimitives.WriteUInt64LittleEndian(bytes, 1UL << 40);
        File.WriteAllBytes(path, bytes);
        Rejects(path, "header length", "larger than the file");
    }

    [Test]
    public void OverlappingAndOutOfRangeOffsetsAreRejected()
    {
        Directory.CreateDirectory(dir);
        string path = Path.Combine(dir, "bad.safetensors");
        WriteRaw(path, """{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}""", 12);
        Rejects(path, "overlapping", "'a'", "'b'");
        WriteRaw(path, """{"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}}""", 12);
        Rejects(path, "'a'", "out of range");
        WriteRaw(path, """{"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}""", 8);
        Rejects(path, "'a'", "shape [3]", "8 bytes");
    }

    [Test]
    public void UnknownDtypeIsRejected()
    {
        Directory.CreateDirectory(dir);
        string path = Path.Combine(dir, "bad.safetensors");
        WriteRaw(path, """{"a":{"dtype":"I4","shape":[2],"data_offsets":[0,1]}}""", 1);
        Rejects(path, "'a'", "dtype 'I4'");
    }

    [Test]
    public void HalfPrecisionTensorsAreReadAsFloat32()
    {
        Directory.CreateDirectory(dir);
        string path = Path.Combine(dir, "half.safetensors");
        var json = """{"h":{"dtype":"F16","shape":[2],"data_offsets":[0,4]},"b":{"dtype":"BF16","shape":[1],"data_offsets":[4,6]}}""";
        WriteRaw(path, json, 6);
        var bytes = File.ReadAllBytes(path);
        int start = 8 + Encoding.UTF8.GetByteCount(json);
        BinaryPrimitives.WriteHalfLittleEndian(bytes.AsSpan(start), (Half)1.5f);
        BinaryPrimitives.WriteHalfLittleEndian(bytes.AsSpan(start + 2), (Half)(-2f));
        BinaryPrimitives.WriteUInt16LittleEndian(bytes.AsSpan(start + 4), (ushort)(BitConverter.SingleToInt32Bits(3.25f) >> 16));
        File.WriteAllBytes(path, bytes);
        var file = SafeTensors.Read(path);
        Assert.That(file["h"].Data, Is.EqualTo(new[] { 1.5f, -2f }));
        Assert.That(file["b"].Data, Is.EqualTo(new[] { 3.25f }));
    }
}
