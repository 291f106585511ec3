# slides/plots/bench.gp: lecture 9's plot, messages per second of every
# echo server relative to libuv, against the number of connections.
# The build runs:  gnuplot -e "out='PATH.svg'" slides/plots/bench.gp
# Data: one `make bench` on 2026-12-02, 2-CPU VM, Linux 6.18, 64-byte
# ping-pong, median of 3 interleaved runs (labs/12-reactors/README.md,
# "Reading the benchmark plot"). libuv's absolute rates: 40788, 127549,
# 104364, 86055 msgs/s at 1, 10, 100, 1000 connections.

if (!exists("out")) out = "bench.svg"
set terminal svg size 1100,560 dynamic font 'Noto Sans,18'
set output out

# One row per connection count; one column per server, in this order.
$data << EOD
# conns  04fork  05thread  07busy  09poll  10epollLT  11uring  12t2  libuv
1        1.12    1.10      1.16    0.94    1.02       0.97     1.00  1
10       0.94    0.74      1.15    1.13    1.01       0.95     0.90  1
100      0.98    1.05      1.35    1.31    1.24       1.18     1.17  1
1000     0.83    0.93      1.59    1.83    1.57       1.50     1.35  1
EOD

set title "msgs/s relative to libuv (2026-12-02, 2-CPU VM, Linux 6.18, 64-byte ping-pong, median of 3)" font 'Noto Sans,16'
set logscale x 10
set xrange [0.7:1500]
set xtics ("1" 1, "10" 10, "100" 100, "1000" 1000)
set xlabel "concurrent connections (log scale)"
set yrange [0.6:2.0]
set ytics 0.2
set format y "%.1f×"
set ylabel "msgs/s ÷ libuv's"
set grid ytics lc rgb "#dddddd"
set key outside right center box opaque spacing 1.1
set border 3
set tics nomirror
set pointsize 1.3
set label 1 "libuv = 1.0×: 40 788, 127 549, 104 364, 86 055 msgs/s" at graph 0.02, graph 0.05 font 'Noto Sans,14'

plot $data using 1:2 with linespoints lw 2 pt 5  lc rgb "#8c564b" title "04 fork", \
     ''    using 1:3 with linespoints lw 2 pt 7  lc rgb "#e377c2" title "05 thread/conn", \
     ''    using 1:4 with linespoints lw 2 pt 9  lc rgb "#7f7f7f" dt 2 title "07 busy loop", \
     ''    using 1:5 with linespoints lw 2 pt 11 lc rgb "#ff7f0e" title "09 poll", \
     ''    using 1:6 with linespoints lw 2 pt 13 lc rgb "#1f77b4" title "10 epoll LT", \
     ''    using 1:7 with linespoints lw 2 pt 15 lc rgb "#2ca02c" title "11 io\\_uring", \
     ''    using 1:8 with linespoints lw 2 pt 4  lc rgb "#9467bd" title "12 -t 2", \
     ''    using 1:9 with lines lw 4 lc rgb "#000000" title "libuv (= 1)"
