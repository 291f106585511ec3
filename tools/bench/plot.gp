# tools/bench/plot.gp: the bench plots, from the per-server files that
# tools/bench/run writes in OUT/plot/ (connections, msgs/s, CPU us/msg).
# Called as: gnuplot -e "out='DIR'; servers='01 04 ...'; when='...'; size='64'" plot.gp
set datafile missing "nan"
set logscale x 10
set xrange [0.7:1500]
set xlabel "concurrent connections (ping-pong, " . size . "-byte messages)"
set key outside right top
set grid
set pointsize 1.2
# Eleven servers, eleven colours: gnuplot's default cycle has only eight.
array colour[12] = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", \
                    "#e377c2", "#7f7f7f", "#bcbd22", "#17becf", "#000000", "#555555"]
do for [i = 1:12] { set linetype i linecolor rgb colour[i] pointtype i }

do for [fmt in "png svg"] {
    if (fmt eq "png") { set terminal pngcairo size 1100,650 font "sans,11" } \
    else { set terminal svg size 1100,650 dynamic font "sans,11" }

    set output out . "/msgs." . fmt
    set ylabel "messages per second (median of 3)"
    set yrange [0:*]
    set title "socklab: every echo server against libuv (" . when . ")"
    plot for [i = 1:words(servers)] out . "/plot/" . word(servers, i) . ".dat" using 1:2 \
        with linespoints lt i lw (word(servers, i) eq "libuv" ? 3.5 : 1.5) title word(servers, i)

    set output out . "/cpu." . fmt
    set ylabel "server CPU time per message (us, median of 3)"
    set logscale y 10
    set yrange [*:*]
    set title "socklab: what each message costs the server (" . when . ")"
    plot for [i = 1:words(servers)] out . "/plot/" . word(servers, i) . ".dat" using 1:3 \
        with linespoints lt i lw (word(servers, i) eq "libuv" ? 3.5 : 1.5) title word(servers, i)
    unset logscale y
    set output
}
