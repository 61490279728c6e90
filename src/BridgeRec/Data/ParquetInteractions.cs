using System.Globalization;
using System.Numerics;
using Parquet;
using Parquet.Schema;

namespace BridgeRec.Data;

/// <summary>
/// Interactions from an Apache Parquet file: the generic format's columns (user, item[, rating][, timestamp], found by
/// the same names and aliases as a CSV header, or by <see cref="GenericOptions.Columns"/> in schema order), read one
/// row group at a time so that only one row group's columns are held besides the result.
/// <para>Ids may be text or integer columns (integers become their decimal text, as the same ids in a CSV would be);
/// ratings any numeric column (or text holding numbers); timestamps integer, floating (truncated), date-time (Unix
/// seconds, UTC) or text (as in CSV). Nulls, empty ids and values that do not parse stop the load with a
/// <see cref="DataFormatException"/> naming the file, the 1-based row and the value; a file that Parquet.Net cannot
/// read stops it with one naming the file.</para>
/// </summary>
internal static class ParquetInteractions
{
    static readonly byte[] Magic = "PAR1"u8.ToArray();

    /// <summary>Whether a file is Parquet: the <c>.parquet</c> extension, or the magic bytes <c>PAR1</c> at its start.</summary>
    public static bool IsParquet(string path)
    {
        if (System.IO.Path.GetExtension(path).Equals(".parquet", StringComparison.OrdinalIgnoreCase)) return true;
        if (!File.Exists(path)) return false;
        using var s = File.OpenRead(path);
        Span<byte> head = stackalloc byte[4];
        return s.ReadAtLeast(head, 4, throwOnEndOfStream: false) == 4 && head.SequenceEqual(Magic);
    }

    public static Interactions Read(string path, IdMap users, IdMap items, GenericOptions o) =>
        // Parquet.Net reads asynchronously; the loaders are synchronous, and no caller has a synchronization context.
        ReadAsync(path, users, items, o).GetAwaiter().GetResult();

    static async Task<Interactions> ReadAsync(string path, IdMap users, IdMap items, GenericOptions o)
    {
        TextFile.RequireFile(path, "interactions file");
        ParquetReader reader;
        try
        {
            reader = await ParquetReader.CreateAsync(path).ConfigureAwait(false);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            throw DataFormatException.InFile(path, $"not a readable Parquet file ({e.Message})",
                "an Apache Parquet file (it begins and ends with 'PAR1' and holds its schema in a footer)", e);
        }
        await using (reader.ConfigureAwait(false))
        {
            var (user, item, rating, time) = Columns(path, reader.Schema, o);
            long total = 0;
            for (int g = 0; g < reader.RowGroupCount; g++) total += reader.RowGroups[g].RowCount;
            if (total == 0) throw DataFormatException.InFile(path, "no data rows", "at least one interaction", null);
            var b = new InteractionsBuilder((int)Math.Min(total, Array.MaxLength));
            long firstRow = 1;
            for (int g = 0; g < reader.RowGroupCount; g++)
            {
                using var rg = reader.OpenRowGroupReader(g);
                int n = checked((int)rg.RowCount);
                var ctx = new Context(path, g, firstRow);
                string[] u = await ReadIds(rg, user, n, ctx, "user").ConfigureAwait(false);
                string[] i = await ReadIds(rg, item, n, ctx, "item").ConfigureAwait(false);
                float[]? r = rating is null ? null : await ReadRatings(rg, rating, n, ctx).ConfigureAwait(false);
                long[]? t = time is null ? null : await ReadTimestamps(rg, time, n, ctx).ConfigureAwait(false);
                for (int k = 0; k < n; k++)
                    b.Add(users.GetOrAdd(u[k]), items.GetOrAdd(i[k]), t?[k], r?[k]);
                firstRow += n;
            }
            return b.Build();
        }
    }

    /// <summary>Where a row group starts, for error messages and for wrapping Parquet.Net's own failures.</summary>
    readonly record struct Context(string Path, int RowGroup, long FirstRow)
    {
        public DataFormatException At(int k, string problem, string? value, string expected) =>
            DataFormatException.AtRow(Path, FirstRow + k, problem, value, expected);
    }

    static (DataField User, DataField Item, DataField? Rating, DataField? Time) Columns(string path, ParquetSchema schema, GenericOptions o)
    {
        var fields = schema.Fields;
        string names = string.Join(", ", fields.Select(f => f.Name));
        GenericFormat.Role[] roles;
        if (o.Columns is not null)
        {
            if (o.Columns.Count != fields.Count)
                throw DataFormatException.InFile(path, $"wrong column count ({fields.Count}: {names})", $"{o.Columns.Count} columns as GenericOptions.Columns names", null);
            roles = o.Columns.Select(GenericFormat.RoleOf).ToArray();
        }
        else roles = fields.Select(f => GenericFormat.RoleOf(f.Name)).ToArray();

        DataField? Pick(GenericFormat.Role role)
        {
            int at = Array.IndexOf(roles, role);
            if (at < 0) return null;
            if (fields[at] is not DataField { IsArray: false } df)
                throw DataFormatException.InFile(path, $"column '{fields[at].Name}' is a {fields[at].SchemaType.ToString().ToLowerInvariant()}, not a plain column",
                    "one value per row in the user, item, rating and timestamp columns", null);
            return df;
        }
        var user = Pick(GenericFormat.Role.User);
        var item = Pick(GenericFormat.Role.Item);
        if (user is null || item is null)
            throw DataFormatException.InFile(path, $"no user or no item column (columns: {names})",
                "column names user / user_id / userId and item / item_id / itemId / movie_id (or GenericOptions.Columns)", null);
        return (user, item, Pick(GenericFormat.Role.Rating), Pick(GenericFormat.Role.Timestamp));
    }

    static async Task<string[]> ReadIds(ParquetRowGroupReader rg, DataField f, int n, Context ctx, string what)
    {
        string?[] raw = IsText(f) ? await ReadText(rg, f, n, ctx).ConfigureAwait(false) : Type.GetTypeCode(f.ClrType) switch
        {
            TypeCode.Int32 => Format(await ReadValues<int>(rg, f, n, ctx).ConfigureAwait(false)),
            TypeCode.Int64 => Format(await ReadValues<long>(rg, f, n, ctx).ConfigureAwait(false)),
            TypeCode.Int16 => Format(await ReadValues<short>(rg, f, n, ctx).ConfigureAwait(false)),
            TypeCode.UInt16 => Format(await ReadValues<ushort>(rg, f, n, ctx).ConfigureAwait(false)),
            TypeCode.UInt32 => Format(await ReadValues<uint>(rg, f, n, ctx).ConfigureAwait(false)),
            TypeCode.UInt64 => Format(await ReadValues<ulong>(rg, f, n, ctx).ConfigureAwait(false)),
            TypeCode.Byte => Format(await ReadValues<byte>(rg, f, n, ctx).ConfigureAwait(false)),
            TypeCode.SByte => Format(await ReadValues<sbyte>(rg, f, n, ctx).ConfigureAwait(false)),
            _ => throw Unsupported(ctx, f, what + " ids", "a text or integer column"),
        };
        var ids = new string[n];
        for (int k = 0; k < n; k++)
        {
            string id = raw[k]?.Trim() ?? throw ctx.At(k, $"missing {what} id (null in column '{f.Name}')", "null", $"a {what} id");
            if (id.Length == 0) throw ctx.At(k, $"empty {what} id", id, $"a {what} id");
            ids[k] = id;
        }
        return ids;
    }

    static async Task<float[]> ReadRatings(ParquetRowGroupReader rg, DataField f, int n, Context ctx)
    {
        var ratings = new float[n];
        if (IsText(f))
        {
            var text = await ReadText(rg, f, n, ctx).ConfigureAwait(false);
            for (int k = 0; k < n; k++)
            {
                string s = text[k]?.Trim() ?? throw Missing(ctx, k, f, "rating");
                if (!float.TryParse(s, NumberStyles.Float, CultureInfo.InvariantCulture, out float r) || !float.IsFinite(r))
                    throw ctx.At(k, "non-numeric rating", s, "a number");
                ratings[k] = r;
            }
            return ratings;
        }
        double?[] v = await ReadNumbers(rg, f, n, ctx, "ratings").ConfigureAwait(false);
        for (int k = 0; k < n; k++)
        {
            double d = v[k] ?? throw Missing(ctx, k, f, "rating");
            float r = (float)d;
            if (!float.IsFinite(r)) throw ctx.At(k, "rating is not a finite number", d.ToString(CultureInfo.InvariantCulture), "a number");
            ratings[k] = r;
        }
        return ratings;
    }

    static async Task<long[]> ReadTimestamps(ParquetRowGroupReader rg, DataField f, int n, Context ctx)
    {
        var times = new long[n];
        const string expected = "an integer (e.g. Unix seconds), a date-time or an ISO-8601 date-time text";
        if (IsText(f))
        {
            var text = await ReadText(rg, f, n, ctx).ConfigureAwait(false);
            for (int k = 0; k < n; k++)
            {
                string s = text[k]?.Trim() ?? throw Missing(ctx, k, f, "timestamp");
                times[k] = GenericFormat.ParseTime(s) ?? throw ctx.At(k, "non-numeric timestamp", s, expected);
            }
            return times;
        }
        switch (Type.GetTypeCode(f.ClrType))
        {
            case TypeCode.DateTime:
                var dates = await ReadValues<DateTime>(rg, f, n, ctx).ConfigureAwait(false);
                for (int k = 0; k < n; k++)
                {
                    // Parquet's timestamps are UTC instants (or zone-less local times, which are read as UTC like ISO text without an offset).
                    DateTime d = dates[k] ?? throw Missing(ctx, k, f, "timestamp");
                    times[k] = new DateTimeOffset(DateTime.SpecifyKind(d, DateTimeKind.Utc)).ToUnixTimeSeconds();
                }
                return times;
            case TypeCode.Int64:
                var longs = await ReadValues<long>(rg, f, n, ctx).ConfigureAwait(false);
                for (int k = 0; k < n; k++) times[k] = longs[k] ?? throw Missing(ctx, k, f, "timestamp");
                return times;
            default:
                if (f.ClrType == typeof(DateTimeOffset))
                {
                    var offsets = await ReadValues<DateTimeOffset>(rg, f, n, ctx).ConfigureAwait(false);
                    for (int k = 0; k < n; k++) times[k] = (offsets[k] ?? throw Missing(ctx, k, f, "timestamp")).ToUnixTimeSeconds();
                    return times;
                }
                double?[] v = await ReadNumbers(rg, f, n, ctx, "timestamps").ConfigureAwait(false);
                for (int k = 0; k < n; k++)
                {
                    double d = v[k] ?? throw Missing(ctx, k, f, "timestamp");
                    if (!double.IsFinite(d) || Math.Abs(d) >= 9e18) throw ctx.At(k, "timestamp out of range", d.ToString(CultureInfo.InvariantCulture), expected);
                    times[k] = (long)Math.Floor(d);
                }
                return times;
        }
    }

    /// <summary>Any numeric column as doubles (exact for every integer a rating or a timestamp in seconds can hold).</summary>
    static async Task<double?[]> ReadNumbers(ParquetRowGroupReader rg, DataField f, int n, Context ctx, string what) => Type.GetTypeCode(f.ClrType) switch
    {
        TypeCode.Double => await ReadValues<double>(rg, f, n, ctx).ConfigureAwait(false),
        TypeCode.Single => Widen(await ReadValues<float>(rg, f, n, ctx).ConfigureAwait(false)),
        TypeCode.Decimal => Widen(await ReadValues<decimal>(rg, f, n, ctx).ConfigureAwait(false)),
        TypeCode.Int32 => Widen(await ReadValues<int>(rg, f, n, ctx).ConfigureAwait(false)),
        TypeCode.Int64 => Widen(await ReadValues<long>(rg, f, n, ctx).ConfigureAwait(false)),
        TypeCode.Int16 => Widen(await ReadValues<short>(rg, f, n, ctx).ConfigureAwait(false)),
        TypeCode.UInt16 => Widen(await ReadValues<ushort>(rg, f, n, ctx).ConfigureAwait(false)),
        TypeCode.UInt32 => Widen(await ReadValues<uint>(rg, f, n, ctx).ConfigureAwait(false)),
        TypeCode.UInt64 => Widen(await ReadValues<ulong>(rg, f, n, ctx).ConfigureAwait(false)),
        TypeCode.Byte => Widen(await ReadValues<byte>(rg, f, n, ctx).ConfigureAwait(false)),
        TypeCode.SByte => Widen(await ReadValues<sbyte>(rg, f, n, ctx).ConfigureAwait(false)),
        _ => throw Unsupported(ctx, f, what, "a numeric column"),
    };

    static async Task<T?[]> ReadValues<T>(ParquetRowGroupReader rg, DataField f, int n, Context ctx) where T : struct
    {
        var values = new T?[n];
        await Guard(ctx, f, async () =>
        {
            if (f.IsNullable) await rg.ReadAsync<T>(f, values.AsMemory()).ConfigureAwait(false);
            else
            {
                var plain = new T[n];
                await rg.ReadAsync<T>(f, plain.AsMemory()).ConfigureAwait(false);
                for (int k = 0; k < n; k++) values[k] = plain[k];
            }
        }).ConfigureAwait(false);
        return values;
    }

    static async Task<string?[]> ReadText(ParquetRowGroupReader rg, DataField f, int n, Context ctx)
    {
        var values = new string?[n];
        await Guard(ctx, f, () => rg.ReadAsync(f, values.AsMemory())).ConfigureAwait(false);
        return values;
    }

    /// <summary>Parquet.Net's failures inside a column (corrupt pages, bad compression) named with the file, row group and column.</summary>
    static async Task Guard(Context ctx, DataField f, Func<ValueTask> read)
    {
        try { await read().ConfigureAwait(false); }
        catch (Exception e) when (e is not OperationCanceledException and not DataFormatException)
        {
            throw DataFormatException.InFile(ctx.Path,
                $"row group {ctx.RowGroup} (rows from {ctx.FirstRow}), column '{f.Name}': unreadable ({e.Message})", "a valid Parquet column", e);
        }
    }

    /// <summary>Parquet.Net reports UTF-8 columns as <c>ReadOnlyMemory&lt;char&gt;</c> (and plain binary as bytes); both read as strings.</summary>
    static bool IsText(DataField f) =>
        f.ClrType == typeof(string) || f.ClrType == typeof(ReadOnlyMemory<char>) || f.ClrType == typeof(ReadOnlyMemory<byte>) || f.ClrType == typeof(byte[]);

    static string?[] Format<T>(T?[] v) where T : struct, IFormattable
    {
        var s = new string?[v.Length];
        for (int k = 0; k < v.Length; k++) s[k] = v[k]?.ToString(null, CultureInfo.InvariantCulture);
        return s;
    }

    static double?[] Widen<T>(T?[] v) where T : struct, INumberBase<T>
    {
        var d = new double?[v.Length];
        for (int k = 0; k < v.Length; k++) d[k] = v[k] is { } x ? double.CreateChecked(x) : null;
        return d;
    }

    static DataFormatException Missing(Context ctx, int k, DataField f, string what) =>
        ctx.At(k, $"missing {what} (null in column '{f.Name}')", "null", $"a {what}");

    static DataFormatException Unsupported(Context ctx, DataField f, string what, string expected) =>
        DataFormatException.InFile(ctx.Path, $"column '{f.Name}' has type {f.ClrType.Name}, which cannot hold {what}", expected, null);
}
