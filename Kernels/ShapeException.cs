namespace Engine.Kernels;

/// <summary>
/// An argument an op cannot accept (a temperature, a clip range, a buffer of another backend). The
/// message always names the op, what it expected and what it received, so a user can find the bad
/// call without a debugger.
/// </summary>
public class OpArgumentException(string op, string what, string expected, string received)
    : ArgumentException($"{op}: {what}: expected {expected}, received {received}");

/// <summary>A size or shape an op cannot accept; the message names the op and both shapes.</summary>
public sealed class ShapeException(string op, string what, string expected, string received)
    : OpArgumentException(op, what, expected, received)
{
    public static string Format(ReadOnlySpan<int> shape) => "[" + string.Join(", ", shape.ToArray()) + "]";
}

/// <summary>Argument checks shared by every backend, so each reports a bad call the same way.</summary>
public static class Check
{
    public static void Length(string op, string name, DeviceBuffer buffer, int expected, string shape)
    {
        if (buffer.Length != expected)
            throw new ShapeException(op, name, $"{shape} = {expected} elements", $"{buffer.Length} elements");
    }

    public static void Positive(string op, string name, int value)
    {
        if (value <= 0) throw new ShapeException(op, name, "a positive size", value.ToString());
    }

    public static void NonNegative(string op, string name, int value)
    {
        if (value < 0) throw new ShapeException(op, name, "a size >= 0", value.ToString());
    }

    public static void Ids(string op, ReadOnlySpan<int> ids, int count, int vocab, bool allowIgnore, int ignoreIndex = -1)
    {
        if (ids.Length != count) throw new ShapeException(op, "ids", $"{count} ids", $"{ids.Length} ids");
        for (int i = 0; i < ids.Length; i++)
        {
            int id = ids[i];
            if (allowIgnore && id == ignoreIndex) continue;
            if ((uint)id >= (uint)vocab)
                throw new ShapeException(op, $"ids[{i}]", $"an id in [0, {vocab})", id.ToString());
        }
    }
}
