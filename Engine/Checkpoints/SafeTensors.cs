using System.Buffers.Binary;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Engine.Checkpoints;

/// <summary>
/// The safetensors format (Hugging Face): an 8-byte little-endian header length N, N bytes of JSON
/// {"name": {"dtype", "shape", "data_offsets": [begin, end]}, "__metadata__": {...}}, then the raw
/// little-endian data, offsets relative to its start. We write F32; we read F32, F16 and BF16 into
/// float32, and reject a malformed file with one message that says what is wrong.
/// </summary>
public static class SafeTensors
{
    public sealed record Entry(int[] Shape, float[] Data);

    public static void Write(string path, IEnumerable<(string Name, int[] Shape, float[] Data)> tensors,
        IDictionary<string, string>? metadata = null)
    {
        var header = new JsonObject();
        var meta = new JsonObject { ["format"] = "pt" };
        foreach (var kv in metadata ?? new Dictionary<string, string>()) meta[kv.Key] = kv.Value;
        header["__metadata__"] = meta;
        long offset = 0;
        var list = tensors.ToList();
        foreach (var (name, shape, data) in list)
        {
            long count = shape.Aggregate(1L, (a, b) => a * b);
            if (count != data.Length)
                throw new ArgumentException($"safetensors: tensor '{name}' has {data.Length} values for shape " +
                    $"{string.Join("x", shape)}");
            header[name] = new JsonObject
            {
                ["dtype"] = "F32",
                ["shape"] = new JsonArray(shape.Select(d => (JsonNode)d).ToArray()),
                ["data_offsets"] = new JsonArray(offset, offset + 4L * data.Length),
            };
            offset += 4L * data.Length;
        }
        byte[] json = Encoding.UTF8.GetBytes(header.ToJsonString());
        int padded = (json.Length + 7) / 8 * 8;                 // the spec pads the header with spaces to 8 bytes
        using var f = new FileStream(path, FileMode.Create, FileAccess.Write);
        Span<byte> len = stackalloc byte[8];
        BinaryPrimitives.WriteUInt64LittleEndian(len, (ulong)padded);
        f.Write(len);
        f.Write(json);
        for (int i = json.Length; i < padded; i++) f.WriteByte((byte)' ');
        foreach (var (_, _, data) in list)
        {
            var bytes = new byte[4 * data.Length];
            for (int i = 0; i < data.Length; i++) BinaryPrimitives.WriteSingleLittleEndian(bytes.AsSpan(4 * i), data[i]);
            f.Write(bytes);
        }
    }

    public static Dictionary<string, Entry> Read(string path)
    {
        if (!File.Exists(path)) throw new InvalidDataException($"safetensors: {path}: no such file");
        byte[] file = File.ReadAllBytes(path);
        string where = $"safetensors: {Path.GetFileName(path)}";
        if (file.Length < 8)
            throw new InvalidDataException($"{where}: truncated file ({file.Length} bytes; the 8-byte header length " +
                $"is missing)");
        ulong headerLength = BinaryPrimitives.ReadUInt64LittleEndian(file);
        if (headerLength > (ulong)(file.Length - 8))
            throw new InvalidDataException($"{where}: header length {headerLength} is larger than the file ({file.Length} bytes)");
        JsonObject header;
        try { header = JsonNode.Parse(Encoding.UTF8.GetString(file, 8, (int)headerLength)) as JsonObject
            ?? throw new InvalidDataException($"{where}: the header is not a JSON object"); }
        catch (JsonException e) { throw new InvalidDataException($"{where}: the header is not valid JSON ({e.Message})"); }

        long dataStart = 8 + (long)headerLength, dataLength = file.Length - dataStart;
        var spans = new List<(string Name, long Begin, long End)>();
        var result = new Dictionary<string, Entry>();
        foreach (var (name, node) in header)
        {
            if (name == "__metadata__") continue;
            if (node is not JsonObject t) throw new InvalidDataException($"{where}: entry '{name}' is not an object");
            string dtype = t["dtype"]?.GetValue<string>() ?? throw new InvalidDataException($"{where}: tensor '{name}' has no dtype");
            int size = dtype switch
            {
                "F32" => 4, "F16" or "BF16" => 2,
                _ => throw new InvalidDataException($"{where}: tensor '{name}' has unknown or unsupported dtype " +
                    $"'{dtype}' (F32, F16, BF16 are read)"),
            };
            int[] shape = t["shape"]?.AsArray().Select(d => d!.GetValue<int>()).ToArray()
                ?? throw new InvalidDataException($"{where}: tensor '{name}' has no shape");
            var offsets = t["data_offsets"]?.AsArray().Select(d => d!.GetValue<long>()).ToArray();
            if (offsets is not { Length: 2 }) throw new InvalidDataException($"{where}: tensor '{name}' needs data_offsets [begin, end]");
            long begin = offsets[0], end = offsets[1];
            if (begin < 0 || end < begin || end > dataLength)
                throw new InvalidDataException($"{where}: tensor '{name}' data_offsets [{begin}, {end}] are out of " +
                    $"range of the {dataLength} data bytes (truncated file?)");
            long count = shape.Aggregate(1L, (a, b) => a * b);
            if (shape.Any(d => d < 0) || count * size != end - begin)
                throw new InvalidDataException($"{where}: tensor '{name}' has shape [{string.Join(", ", shape)}] " +
                    $"({count * size} bytes of {dtype}) but data_offsets span {end - begin} bytes");
            spans.Add((name, begin, end));
            var data = new float[count];
            var src = file.AsSpan((int)(dataStart + begin), (int)(end - begin));
            for (long i = 0; i < count; i++)
                data[i] = dtype switch
                {
                    "F32" => BinaryPrimitives.ReadSingleLittleEndian(src[(int)(4 * i)..]),
                    "F16" => (float)BinaryPrimitives.ReadHalfLittleEndian(src[(int)(2 * i)..]),
                    // bf16: the top half of a float32
                    _ => BitConverter.Int32BitsToSingle(BinaryPrimitives.ReadUInt16LittleEndian(src[(int)(2 * i)..]) << 16),
                };
            result[name] = new Entry(shape, data);
        }
        spans.Sort((a, b) => a.Begin.CompareTo(b.Begin));
        for (int i = 1; i < spans.Count; i++)
            if (spans[i].Begin < spans[i - 1].End)
                throw new InvalidDataException($"{where}: tensors '{spans[i - 1].Name}' and '{spans[i].Name}' have " +
                    $"overlapping data_offsets");
        return result;
    }
}
