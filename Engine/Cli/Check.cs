namespace Engine.Cli;

/// <summary>Range checks of option values, each failing with a message that names the option.</summary>
static class Check
{
    public static void PositiveFinite(float value, string option)
    {
        if (!(value > 0) || !float.IsFinite(value)) throw new ArgumentException($"{option} must be a positive number, got {value}");
    }

    public static void NonNegativeFinite(float value, string option)
    {
        if (!(value >= 0) || !float.IsFinite(value)) throw new ArgumentException($"{option} must be >= 0, got {value}");
    }

    public static void AtLeast(int value, int min, string option)
    {
        if (value < min) throw new ArgumentException($"{option} must be >= {min}, got {value}");
    }
}
